package mkv

import (
	"fmt"
)

// This file decodes the buffered Master elements: the EBML header, Info,
// Tracks and Tags. Each walks its children with nextElement, skips children
// it does not know (RFC 8794 §10: readers ignore unknown elements), and
// checks nesting depth against the configured limit.

// parseEBMLHeader decodes an EBML header body, RFC 8794 §11.2.
func parseEBMLHeader(b []byte) (Header, error) {
	h := Header{DocTypeVersion: 1, DocTypeReadVersion: 1}
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return h, fmt.Errorf("EBML header: %w", err)
		}
		b = rest
		switch e.id {
		case IDEBMLReadVersion:
			v, err := decodeUint(e.id, e.data)
			if err != nil {
				return h, err
			}
			if v > 1 {
				return h, fmt.Errorf("%w: EBMLReadVersion %d", ErrUnsupported, v)
			}
		case IDEBMLMaxIDLength:
			v, err := decodeUint(e.id, e.data)
			if err != nil {
				return h, err
			}
			if v > maxIDLen {
				return h, fmt.Errorf("%w: EBMLMaxIDLength %d", ErrUnsupported, v)
			}
		case IDEBMLMaxSizeLength:
			v, err := decodeUint(e.id, e.data)
			if err != nil {
				return h, err
			}
			if v > maxVintLen {
				return h, fmt.Errorf("%w: EBMLMaxSizeLength %d", ErrUnsupported, v)
			}
		case IDDocType:
			h.DocType = decodeString(e.data)
		case IDDocTypeVersion:
			v, err := decodeUint(e.id, e.data)
			if err != nil {
				return h, err
			}
			h.DocTypeVersion = v
		case IDDocTypeReadVersion:
			v, err := decodeUint(e.id, e.data)
			if err != nil {
				return h, err
			}
			h.DocTypeReadVersion = v
		}
	}
	switch h.DocType {
	case "matroska", "webm":
	case "":
		return h, fmt.Errorf("%w: EBML header without DocType", ErrInvalid)
	default:
		return h, fmt.Errorf("%w: DocType %q", ErrUnsupported, h.DocType)
	}
	return h, nil
}

// parseInfo decodes an Info body, RFC 9559 §5.1.2.
func parseInfo(b []byte) (Info, error) {
	info := Info{TimecodeScale: 1_000_000}
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return info, fmt.Errorf("Info: %w", err)
		}
		b = rest
		switch e.id {
		case IDTimestampScale:
			v, err := decodeUint(e.id, e.data)
			if err != nil {
				return info, err
			}
			if v == 0 {
				return info, fmt.Errorf("%w: TimestampScale 0", ErrInvalid)
			}
			info.TimecodeScale = v
		case IDDuration:
			v, err := decodeFloat(e.id, e.data)
			if err != nil {
				return info, err
			}
			info.Duration = v
		case IDTitle:
			info.Title = decodeString(e.data)
		case IDMuxingApp:
			info.MuxingApp = decodeString(e.data)
		case IDWritingApp:
			info.WritingApp = decodeString(e.data)
		}
	}
	return info, nil
}

// parseTracks decodes a Tracks body, RFC 9559 §5.1.4.
func parseTracks(b []byte) ([]Track, error) {
	var tracks []Track
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return nil, fmt.Errorf("Tracks: %w", err)
		}
		b = rest
		if e.id != IDTrackEntry {
			continue
		}
		t, err := parseTrackEntry(e.data)
		if err != nil {
			return nil, fmt.Errorf("TrackEntry %d: %w", len(tracks)+1, err)
		}
		for i := range tracks {
			if tracks[i].Number == t.Number {
				return nil, fmt.Errorf("%w: duplicate TrackNumber %d", ErrInvalid, t.Number)
			}
		}
		tracks = append(tracks, t)
	}
	return tracks, nil
}

func parseTrackEntry(b []byte) (Track, error) {
	var t Track
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return t, err
		}
		b = rest
		switch e.id {
		case IDTrackNumber:
			t.Number, err = decodeUint(e.id, e.data)
		case IDTrackUID:
			t.UID, err = decodeUint(e.id, e.data)
		case IDTrackType:
			t.Type, err = decodeUint(e.id, e.data)
		case IDCodecID:
			t.CodecID = decodeString(e.data)
		case IDCodecPrivate:
			t.CodecPrivate = append([]byte(nil), e.data...)
		case IDName:
			t.Name = decodeString(e.data)
		case IDLanguage:
			t.Language = decodeString(e.data)
		case IDDefaultDuration:
			t.DefaultDuration, err = decodeUint(e.id, e.data)
		case IDCodecDelay:
			t.CodecDelay, err = decodeUint(e.id, e.data)
		case IDSeekPreRoll:
			t.SeekPreRoll, err = decodeUint(e.id, e.data)
		case IDContentEncodings:
			t.Encoded = true
		case IDVideo:
			t.Video, err = parseVideo(e.data)
		case IDAudio:
			t.Audio, err = parseAudio(e.data)
		}
		if err != nil {
			return t, err
		}
	}
	if t.Number == 0 {
		return t, fmt.Errorf("%w: missing or zero TrackNumber", ErrInvalid)
	}
	return t, nil
}

func parseVideo(b []byte) (*VideoTrack, error) {
	v := &VideoTrack{}
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return nil, err
		}
		b = rest
		switch e.id {
		case IDPixelWidth:
			v.PixelWidth, err = decodeUint(e.id, e.data)
		case IDPixelHeight:
			v.PixelHeight, err = decodeUint(e.id, e.data)
		case IDDisplayWidth:
			v.DisplayWidth, err = decodeUint(e.id, e.data)
		case IDDisplayHeight:
			v.DisplayHeight, err = decodeUint(e.id, e.data)
		}
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

func parseAudio(b []byte) (*AudioTrack, error) {
	a := &AudioTrack{SamplingFrequency: 8000, Channels: 1}
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return nil, err
		}
		b = rest
		switch e.id {
		case IDSamplingFrequency:
			a.SamplingFrequency, err = decodeFloat(e.id, e.data)
		case IDChannels:
			a.Channels, err = decodeUint(e.id, e.data)
		case IDBitDepth:
			a.BitDepth, err = decodeUint(e.id, e.data)
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// parseTags decodes a Tags body, RFC 9559 §5.1.8. SimpleTags nest, so depth
// counts from the Tags element (depth 0 is the Segment's child).
func parseTags(b []byte, maxDepth int) ([]Tag, error) {
	var tags []Tag
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return nil, fmt.Errorf("Tags: %w", err)
		}
		b = rest
		if e.id != IDTag {
			continue
		}
		t, err := parseTag(e.data, maxDepth)
		if err != nil {
			return nil, fmt.Errorf("Tag %d: %w", len(tags)+1, err)
		}
		tags = append(tags, t)
	}
	return tags, nil
}

func parseTag(b []byte, maxDepth int) (Tag, error) {
	var t Tag
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return t, err
		}
		b = rest
		switch e.id {
		case IDTargets:
			t.Targets, err = parseTargets(e.data)
		case IDSimpleTag:
			var st SimpleTag
			// Segment(1) > Tags(2) > Tag(3) > SimpleTag(4).
			st, err = parseSimpleTag(e.data, 4, maxDepth)
			t.SimpleTags = append(t.SimpleTags, st)
		}
		if err != nil {
			return t, err
		}
	}
	return t, nil
}

func parseTargets(b []byte) (Targets, error) {
	var t Targets
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return t, err
		}
		b = rest
		switch e.id {
		case IDTargetTypeValue:
			t.TypeValue, err = decodeUint(e.id, e.data)
		case IDTargetType:
			t.Type = decodeString(e.data)
		case IDTagTrackUID:
			var uid uint64
			uid, err = decodeUint(e.id, e.data)
			t.TrackUIDs = append(t.TrackUIDs, uid)
		}
		if err != nil {
			return t, err
		}
	}
	return t, nil
}

func parseSimpleTag(b []byte, depth, maxDepth int) (SimpleTag, error) {
	var st SimpleTag
	if depth > maxDepth {
		return st, fmt.Errorf("%w: SimpleTag at depth %d (limit %d)", ErrTooDeep, depth, maxDepth)
	}
	for len(b) > 0 {
		e, rest, err := nextElement(b, 0)
		if err != nil {
			return st, err
		}
		b = rest
		switch e.id {
		case IDTagName:
			st.Name = decodeString(e.data)
		case IDTagString:
			st.String = decodeString(e.data)
		case IDTagLanguage:
			st.Language = decodeString(e.data)
		case IDTagBinary:
			st.Binary = append([]byte(nil), e.data...)
		case IDSimpleTag:
			child, err := parseSimpleTag(e.data, depth+1, maxDepth)
			if err != nil {
				return st, err
			}
			st.Tags = append(st.Tags, child)
		}
	}
	return st, nil
}
