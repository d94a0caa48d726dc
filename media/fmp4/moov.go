package fmp4

import (
	"fmt"
	"io"
)

// movieTimescale is the mvhd timescale: movie-level durations (mvhd, tkhd,
// elst segment durations) are in milliseconds.
const movieTimescale = 1000

// Sample flags (ISO/IEC 14496-12 §8.8.3.1): is_leading(2)
// sample_depends_on(2) sample_is_depended_on(2) sample_has_redundancy(2)
// sample_padding_value(3) sample_is_non_sync_sample(1)
// sample_degradation_priority(16).
const (
	syncSampleFlags    = 0x02000000 // depends on no other sample
	nonSyncSampleFlags = 0x01010000 // depends on others, not a sync sample
)

// writeFtyp writes a FileTypeBox (§4.3).
func writeFtyp(w *boxBuf, major string, minor uint32, compatible ...string) {
	p := w.start("ftyp")
	w.str(major)
	w.u32(minor)
	for _, c := range compatible {
		w.str(c)
	}
	w.end(p)
}

// writeMvhd writes a MovieHeaderBox (§8.2.2).
func writeMvhd(w *boxBuf, duration uint64, nextTrackID uint32) {
	if duration > 0xffffffff {
		p := w.startFull("mvhd", 1, 0)
		w.u64(0) // creation_time
		w.u64(0) // modification_time
		w.u32(movieTimescale)
		w.u64(duration)
		writeMvhdRest(w, nextTrackID)
		w.end(p)
		return
	}
	p := w.startFull("mvhd", 0, 0)
	w.u32(0)
	w.u32(0)
	w.u32(movieTimescale)
	w.u32(uint32(duration))
	writeMvhdRest(w, nextTrackID)
	w.end(p)
}

func writeMvhdRest(w *boxBuf, nextTrackID uint32) {
	w.u32(0x00010000) // rate 1.0
	w.u16(0x0100)     // volume 1.0
	w.zeros(2 + 8)    // reserved
	w.unityMatrix()
	w.zeros(6 * 4) // pre_defined
	w.u32(nextTrackID)
}

// trackTables writes the sample tables of stbl after stsd; nil writes the
// empty tables of a fragmented file's init segment.
type trackTables func(w *boxBuf)

// trakTiming holds the durations of one track.
type trakTiming struct {
	movieDuration uint64 // tkhd duration, movie timescale
	mediaDuration uint64 // mdhd duration, track timescale
	edits         []edit // elst entries, none for no edts box
}

// edit is one EditListBox entry (§8.6.6).
type edit struct {
	segmentDuration uint64 // movie timescale
	mediaTime       int64  // track timescale, -1 for an empty edit
}

// writeTrak writes a TrackBox (§8.3.1) for t.
func writeTrak(w *boxBuf, t *Track, tm trakTiming, tables trackTables) {
	trak := w.start("trak")

	// TrackHeaderBox (§8.3.2): flags track_enabled | track_in_movie.
	v := uint8(0)
	if tm.movieDuration > 0xffffffff {
		v = 1
	}
	p := w.startFull("tkhd", v, 3)
	if v == 1 {
		w.u64(0)
		w.u64(0)
		w.u32(t.ID)
		w.u32(0)
		w.u64(tm.movieDuration)
	} else {
		w.u32(0)
		w.u32(0)
		w.u32(t.ID)
		w.u32(0)
		w.u32(uint32(tm.movieDuration))
	}
	w.zeros(8) // reserved
	w.u16(0)   // layer
	w.u16(0)   // alternate_group
	if t.Codec.IsVideo() {
		w.u16(0)
	} else {
		w.u16(0x0100) // volume 1.0 for audio
	}
	w.u16(0)
	w.unityMatrix()
	if t.Codec.IsVideo() {
		width := uint32(t.Width)
		if t.sarW != 0 && t.sarH != 0 && t.sarW != t.sarH {
			width = uint32(uint64(width) * uint64(t.sarW) / uint64(t.sarH))
		}
		w.u32(width << 16)
		w.u32(uint32(t.Height) << 16)
	} else {
		w.u32(0)
		w.u32(0)
	}
	w.end(p)

	if len(tm.edits) > 0 {
		writeEdts(w, tm.edits)
	}

	mdia := w.start("mdia")
	writeMdhd(w, t, tm.mediaDuration)
	// HandlerBox (§8.4.3).
	p = w.startFull("hdlr", 0, 0)
	w.u32(0) // pre_defined
	if t.Codec.IsVideo() {
		w.str("vide")
	} else {
		w.str("soun")
	}
	w.zeros(12)
	if t.Codec.IsVideo() {
		w.str("VideoHandler\x00")
	} else {
		w.str("SoundHandler\x00")
	}
	w.end(p)

	minf := w.start("minf")
	if t.Codec.IsVideo() {
		p = w.startFull("vmhd", 0, 1) // §12.1.2, flags 1
		w.zeros(8)                    // graphicsmode, opcolor
	} else {
		p = w.startFull("smhd", 0, 0) // §12.2.2
		w.zeros(4)                    // balance, reserved
	}
	w.end(p)
	// DataInformationBox (§8.7.1) with one self-contained 'url ' entry.
	dinf := w.start("dinf")
	dref := w.startFull("dref", 0, 0)
	w.u32(1)
	p = w.startFull("url ", 0, 1)
	w.end(p)
	w.end(dref)
	w.end(dinf)

	stbl := w.start("stbl")
	writeStsd(w, t)
	if tables != nil {
		tables(w)
	} else {
		for _, typ := range []string{"stts", "stsc", "stco"} {
			p = w.startFull(typ, 0, 0)
			w.u32(0) // entry_count
			w.end(p)
		}
		p = w.startFull("stsz", 0, 0)
		w.u32(0) // sample_size
		w.u32(0) // sample_count
		w.end(p)
	}
	w.end(stbl)
	w.end(minf)
	w.end(mdia)
	w.end(trak)
}

// writeEdts writes an EditBox with an EditListBox (§8.6.5, §8.6.6).
func writeEdts(w *boxBuf, edits []edit) {
	v := uint8(0)
	for _, e := range edits {
		if e.segmentDuration > 0xffffffff || e.mediaTime > 0x7fffffff {
			v = 1
		}
	}
	edts := w.start("edts")
	p := w.startFull("elst", v, 0)
	w.u32(uint32(len(edits)))
	for _, e := range edits {
		if v == 1 {
			w.u64(e.segmentDuration)
			w.u64(uint64(e.mediaTime))
		} else {
			w.u32(uint32(e.segmentDuration))
			w.u32(uint32(int32(e.mediaTime)))
		}
		w.u32(0x00010000) // media_rate_integer 1, media_rate_fraction 0
	}
	w.end(p)
	w.end(edts)
}

// writeMdhd writes a MediaHeaderBox (§8.4.2).
func writeMdhd(w *boxBuf, t *Track, duration uint64) {
	v := uint8(0)
	if duration > 0xffffffff {
		v = 1
	}
	p := w.startFull("mdhd", v, 0)
	if v == 1 {
		w.u64(0)
		w.u64(0)
		w.u32(t.Timescale)
		w.u64(duration)
	} else {
		w.u32(0)
		w.u32(0)
		w.u32(t.Timescale)
		w.u32(uint32(duration))
	}
	// language: pad bit then three 5-bit letters, each 'a'-1 based.
	lang := t.Language
	if lang == "" {
		lang = "und"
	}
	w.u16(uint16(lang[0]-0x60)<<10 | uint16(lang[1]-0x60)<<5 | uint16(lang[2]-0x60))
	w.u16(0) // pre_defined
	w.end(p)
}

// writeStsd writes a SampleDescriptionBox (§8.5.2) with the track's single
// sample entry.
func writeStsd(w *boxBuf, t *Track) {
	stsd := w.startFull("stsd", 0, 0)
	w.u32(1)
	switch t.Codec {
	case H264, H265:
		typ, cfg := "avc1", "avcC"
		if t.Codec == H265 {
			typ, cfg = "hvc1", "hvcC"
		}
		// VisualSampleEntry (§12.1.3).
		e := w.start(typ)
		w.zeros(6) // reserved
		w.u16(1)   // data_reference_index
		w.zeros(2 + 2 + 12)
		w.u16(uint16(t.Width))
		w.u16(uint16(t.Height))
		w.u32(0x00480000) // horizresolution 72 dpi
		w.u32(0x00480000) // vertresolution
		w.u32(0)          // reserved
		w.u16(1)          // frame_count
		w.zeros(32)       // compressorname
		w.u16(0x0018)     // depth
		w.u16(0xffff)     // pre_defined = -1
		p := w.start(cfg)
		w.bytes(t.CodecPrivate)
		w.end(p)
		if t.sarW != 0 && t.sarH != 0 && t.sarW != t.sarH {
			// PixelAspectRatioBox (§12.1.4).
			p = w.start("pasp")
			w.u32(uint32(t.sarW))
			w.u32(uint32(t.sarH))
			w.end(p)
		}
		w.end(e)
	case AAC:
		e := w.start("mp4a")
		writeAudioSampleEntry(w, t)
		writeEsds(w, t.CodecPrivate)
		w.end(e)
	case Opus:
		e := w.start("Opus")
		writeAudioSampleEntry(w, t)
		p := w.start("dOps")
		w.bytes(t.dops)
		w.end(p)
		w.end(e)
	}
	w.end(stsd)
}

// writeAudioSampleEntry writes the fields of AudioSampleEntry (§12.2.3)
// that follow the box header.
func writeAudioSampleEntry(w *boxBuf, t *Track) {
	w.zeros(6) // reserved
	w.u16(1)   // data_reference_index
	w.zeros(8) // reserved
	w.u16(t.Channels)
	w.u16(16)  // samplesize
	w.zeros(4) // pre_defined, reserved
	rate := t.SampleRate
	if rate > 0xffff {
		rate = 0 // does not fit 16.16; the decoder config carries it
	}
	w.u32(rate << 16)
}

// writeEsds writes an ESDBox (ISO/IEC 14496-14 §5.6) holding an
// ES_Descriptor (ISO/IEC 14496-1 §7.2.6.5) with a DecoderConfigDescriptor
// for MPEG-4 audio whose DecoderSpecificInfo is the AudioSpecificConfig.
func writeEsds(w *boxBuf, asc []byte) {
	p := w.startFull("esds", 0, 0)
	dsi := descriptorLen(len(asc))
	dcd := 13 + dsi
	sl := descriptorLen(1)
	es := 3 + descriptorLen(dcd) + sl
	writeDescriptorHeader(w, 0x03, es)  // ES_DescrTag
	w.u16(0)                            // ES_ID
	w.u8(0)                             // no dependence, URL or OCR stream; priority 0
	writeDescriptorHeader(w, 0x04, dcd) // DecoderConfigDescrTag
	w.u8(0x40)                          // objectTypeIndication: Audio ISO/IEC 14496-3
	w.u8(0x05<<2 | 1)                   // streamType AudioStream, upStream 0, reserved 1
	w.u8(0)                             // bufferSizeDB (24 bits)
	w.u16(0)
	w.u32(0)                                 // maxBitrate
	w.u32(0)                                 // avgBitrate
	writeDescriptorHeader(w, 0x05, len(asc)) // DecSpecificInfoTag
	w.bytes(asc)
	writeDescriptorHeader(w, 0x06, 1) // SLConfigDescrTag
	w.u8(0x02)                        // predefined: reserved for use in MP4 files
	w.end(p)
}

// descriptorLen returns the full size of a descriptor with a body of n
// bytes: tag, the expandable size field (ISO/IEC 14496-1 §8.3.3) and body.
func descriptorLen(n int) int {
	l := 1
	for v := n >> 7; v > 0; v >>= 7 {
		l++
	}
	return 1 + l + n
}

func writeDescriptorHeader(w *boxBuf, tag uint8, n int) {
	w.u8(tag)
	shift := 0
	for v := n >> 7; v > 0; v >>= 7 {
		shift += 7
	}
	for ; shift > 0; shift -= 7 {
		w.u8(0x80 | uint8(n>>uint(shift))&0x7f)
	}
	w.u8(uint8(n) & 0x7f)
}

// checkTracks validates tracks and returns the next free track ID.
func checkTracks(tracks []Track) (uint32, error) {
	if len(tracks) == 0 {
		return 0, fmt.Errorf("no tracks: %w", ErrInvalidTrack)
	}
	var maxID uint32
	for i := range tracks {
		if err := tracks[i].validate(); err != nil {
			return 0, err
		}
		for j := range i {
			if tracks[j].ID == tracks[i].ID {
				return 0, fmt.Errorf("track ID %d used twice: %w", tracks[i].ID, ErrInvalidTrack)
			}
		}
		maxID = max(maxID, tracks[i].ID)
	}
	if maxID == 0xffffffff {
		return 0, fmt.Errorf("track ID %d leaves no next_track_ID: %w", maxID, ErrInvalidTrack)
	}
	return maxID + 1, nil
}

// AppendInit appends an initialization segment for a fragmented file to
// dst: ftyp and a moov with one trak per track (empty sample tables) and an
// mvex with a trex per track (ISO/IEC 14496-12 §8.8.1, §8.8.3). Give one
// track for HLS or DASH renditions kept in separate files, several for a
// multiplexed file.
func AppendInit(dst []byte, tracks []Track) ([]byte, error) {
	next, err := checkTracks(tracks)
	if err != nil {
		return dst, err
	}
	w := &boxBuf{b: dst}
	writeFtyp(w, "iso5", 512, "iso5", "iso6", "mp41")
	moov := w.start("moov")
	writeMvhd(w, 0, next)
	for i := range tracks {
		writeTrak(w, &tracks[i], trakTiming{}, nil)
	}
	mvex := w.start("mvex")
	for i := range tracks {
		// TrackExtendsBox (§8.8.3); every fragment states its own
		// durations, sizes and flags, so the defaults are zero.
		p := w.startFull("trex", 0, 0)
		w.u32(tracks[i].ID)
		w.u32(1) // default_sample_description_index
		w.u32(0) // default_sample_duration
		w.u32(0) // default_sample_size
		w.u32(0) // default_sample_flags
		w.end(p)
	}
	w.end(mvex)
	w.end(moov)
	return w.b, nil
}

// WriteInit writes the initialization segment described at AppendInit.
func WriteInit(w io.Writer, tracks []Track) error {
	b, err := AppendInit(nil, tracks)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
