// Package mkv reads and writes the Matroska streams of Kinesis Video
// Streams: PutMedia ingest (a live MKV stream cut into one fragment per
// Cluster) and GetMedia output (one MKV document per fragment, with KVS
// SimpleTags).
//
// The EBML layer follows RFC 8794 and the Matroska layer RFC 9559. Reader
// is a streaming demultiplexer that holds at most one Cluster in memory and
// enforces size, frame-count and nesting limits, so hostile input (huge
// declared sizes, deep nesting) fails with an error wrapping one of the
// package's sentinels before anything large is allocated. Writer produces
// live-style documents (Segment of unknown size) and can re-emit stored
// Cluster bytes unchanged.
package mkv
