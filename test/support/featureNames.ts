/** Every flag's name in bit order, as operators write them: pinned by test/transport/featureProtocol.test.ts and test/node/features.test.ts. */
export const ALL_FEATURE_NAMES = [
  'restore-ahead',
  'remove-on-ack',
  'due-floor-per-file',
  'clients-per-user',
  'last-admin',
  'replay-continues',
  'remove-own-restore',
  'first-user-admin',
];
