/** What the stream parser refuses, named by the stream error condition of RFC 6120 §4.9.3 the peer is sent. */
export type ParseErrorCondition = 'not-well-formed' | 'restricted-xml' | 'policy-violation' | 'bad-format' | 'unsupported-encoding' | 'invalid-xml';

export class ParseError extends Error {
  constructor(
    readonly condition: ParseErrorCondition,
    message: string,
  ) {
    super(message);
    this.name = 'ParseError';
  }
}
