/** Types for `cluster-key-slot` (ioredis's own dependency): Redis Cluster's CRC16 key slot, hash tags honoured. */
declare module 'cluster-key-slot' {
  /** The slot (0–16383) of a key given as a string (UTF-8) or bytes. */
  export default function calculateSlot(key: string | Buffer): number;
}
