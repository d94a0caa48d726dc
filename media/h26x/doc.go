// Package h26x splits, converts and inspects H.264 (AVC) and H.265 (HEVC)
// elementary streams: Annex-B and length-prefixed NAL units, NAL unit types
// and key frames, sequence parameter sets, and the decoder configuration
// records that MP4 and Matroska carry as codec private data.
//
// References:
//   - ITU-T H.264 (AVC): §7.3 syntax, §7.4.1 NAL unit semantics, Annex B byte
//     stream format, Annex E VUI.
//   - ITU-T H.265 (HEVC): §7.3 syntax, §7.4.2 NAL unit header semantics.
//   - ISO/IEC 14496-15: §5.3.3 AVCDecoderConfigurationRecord, §8.3.3
//     HEVCDecoderConfigurationRecord, Annex E codecs parameter for HEVC.
//   - RFC 6381 §3.3: the codecs parameter for AVC.
package h26x
