/**
 * cbor-x with every option spelled out: plain CBOR only. One set for the peer wire, the client
 * protocol, and the tests that compare the hand-written encoders with cbor-x.
 */
export const CBOR_OPTIONS = {
  useRecords: false, // no record extension (tag 105): plain arrays only
  structuredClone: false, // no cyclic refs, no Map/Set/Date/RegExp/Error extensions
  mapsAsObjects: false, // maps never decode to objects (they are rejected by the pre-scan anyway)
  tagUint8Array: false, // Uint8Array is a plain byte string (major 2), no tag 64
  pack: false,
  bundleStrings: false,
  sequential: false,
  useSelfDescribedHeader: false,
  useTimestamp32: false,
  useFloat32: 0, // integers >= 2^32 are float64; never round to float32
  alwaysUseFloat: false,
  largeBigIntToFloat: false,
  int64AsNumber: true, // a uint64 argument decodes to a number; the schema then requires it be safe
  useToJSON: false,
  copyBuffers: false,
} as const;
