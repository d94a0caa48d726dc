// Package fmp4 writes ISO base media files: fragmented MP4 (an init segment
// and media segments, as HLS and MPEG-DASH serve them) and progressive MP4
// files with the movie box first ("faststart"), as GetClip returns them.
//
// The boxes follow ISO/IEC 14496-12 (ISO base media file format; section
// numbers below refer to its 2015 and later editions), the sample entries
// ISO/IEC 14496-15 (AVC and HEVC), ISO/IEC 14496-14 (MPEG-4 audio, 'mp4a'
// and 'esds') and "Encapsulation of Opus in ISO Base Media File Format"
// (version 0.8.1, 'Opus' and 'dOps').
//
// Video samples are access units in 4-byte length-prefixed form, exactly as
// Matroska stores them, so remuxing copies bytes without touching them.
package fmp4
