import type ssh2 from 'ssh2';

/**
 * ssh2 rejects a channel open (`reject()` in its `tcpip` / `openssh.streamlocal` events) with an empty
 * description, and OpenSSH prints the description: "channel 2: open failed: administratively
 * prohibited: <description>". This fills in the description for one synchronous `reject()` call by
 * wrapping the connection's protocol object, which ssh2 keeps as `_protocol`. Should a later ssh2 lay
 * it out differently, the refusal still happens, only without the text.
 */

interface ChannelOpenFailWriter {
  channelOpenFail(recipient: number, reason: number, description?: string): void;
}

function protocolOf(connection: ssh2.Connection): ChannelOpenFailWriter | undefined {
  const candidate: unknown = Reflect.get(connection, '_protocol');
  if (typeof candidate !== 'object' || candidate === null) return undefined;
  return typeof Reflect.get(candidate, 'channelOpenFail') === 'function' ? (candidate as ChannelOpenFailWriter) : undefined;
}

/** RFC 4254 §5.1: SSH_OPEN_ADMINISTRATIVELY_PROHIBITED (ssh2 itself would say CONNECT_FAILED). */
const ADMINISTRATIVELY_PROHIBITED = 1;

export function rejectWithDescription(connection: ssh2.Connection, reject: () => void, description: string): void {
  const protocol = protocolOf(connection);
  if (!protocol) return reject();
  const original = protocol.channelOpenFail;
  const hadOwn = Object.hasOwn(protocol, 'channelOpenFail');
  protocol.channelOpenFail = (recipient) => original.call(protocol, recipient, ADMINISTRATIVELY_PROHIBITED, description.slice(0, 1000));
  try {
    reject();
  } finally {
    if (hadOwn) protocol.channelOpenFail = original;
    else Reflect.deleteProperty(protocol, 'channelOpenFail');
  }
}
