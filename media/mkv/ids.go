package mkv

// Element IDs used by this package. EBML header and global elements are from
// RFC 8794 §11.2–11.3; Matroska elements from RFC 9559 §5.1.
const (
	IDEBML               ID = 0x1A45DFA3 // RFC 8794 §11.2.1
	IDEBMLVersion        ID = 0x4286     // RFC 8794 §11.2.2
	IDEBMLReadVersion    ID = 0x42F7     // RFC 8794 §11.2.3
	IDEBMLMaxIDLength    ID = 0x42F2     // RFC 8794 §11.2.4
	IDEBMLMaxSizeLength  ID = 0x42F3     // RFC 8794 §11.2.5
	IDDocType            ID = 0x4282     // RFC 8794 §11.2.6
	IDDocTypeVersion     ID = 0x4287     // RFC 8794 §11.2.7
	IDDocTypeReadVersion ID = 0x4285     // RFC 8794 §11.2.8
	IDCRC32              ID = 0xBF       // RFC 8794 §11.3.1
	IDVoid               ID = 0xEC       // RFC 8794 §11.3.2

	IDSegment     ID = 0x18538067 // RFC 9559 §5.1
	IDSeekHead    ID = 0x114D9B74 // RFC 9559 §5.1.1
	IDInfo        ID = 0x1549A966 // RFC 9559 §5.1.2
	IDCluster     ID = 0x1F43B675 // RFC 9559 §5.1.3
	IDTracks      ID = 0x1654AE6B // RFC 9559 §5.1.4
	IDCues        ID = 0x1C53BB6B // RFC 9559 §5.1.5
	IDAttachments ID = 0x1941A469 // RFC 9559 §5.1.6
	IDChapters    ID = 0x1043A770 // RFC 9559 §5.1.7
	IDTags        ID = 0x1254C367 // RFC 9559 §5.1.8

	// Info children, RFC 9559 §5.1.2.
	IDSegmentUUID    ID = 0x73A4
	IDTimestampScale ID = 0x2AD7B1
	IDDuration       ID = 0x4489
	IDDateUTC        ID = 0x4461
	IDTitle          ID = 0x7BA9
	IDMuxingApp      ID = 0x4D80
	IDWritingApp     ID = 0x5741

	// Cluster children, RFC 9559 §5.1.3.
	IDTimestamp         ID = 0xE7
	IDPosition          ID = 0xA7
	IDPrevSize          ID = 0xAB
	IDSimpleBlock       ID = 0xA3
	IDBlockGroup        ID = 0xA0
	IDBlock             ID = 0xA1
	IDBlockAdditions    ID = 0x75A1
	IDBlockDuration     ID = 0x9B
	IDReferencePriority ID = 0xFA
	IDReferenceBlock    ID = 0xFB
	IDDiscardPadding    ID = 0x75A2

	// Tracks children, RFC 9559 §5.1.4.
	IDTrackEntry        ID = 0xAE
	IDTrackNumber       ID = 0xD7
	IDTrackUID          ID = 0x73C5
	IDTrackType         ID = 0x83
	IDFlagEnabled       ID = 0xB9
	IDFlagDefault       ID = 0x88
	IDFlagLacing        ID = 0x9C
	IDDefaultDuration   ID = 0x23E383
	IDName              ID = 0x536E
	IDLanguage          ID = 0x22B59C
	IDCodecID           ID = 0x86
	IDCodecPrivate      ID = 0x63A2
	IDCodecName         ID = 0x258688
	IDCodecDelay        ID = 0x56AA
	IDSeekPreRoll       ID = 0x56BB
	IDVideo             ID = 0xE0
	IDPixelWidth        ID = 0xB0
	IDPixelHeight       ID = 0xBA
	IDDisplayWidth      ID = 0x54B0
	IDDisplayHeight     ID = 0x54BA
	IDAudio             ID = 0xE1
	IDSamplingFrequency ID = 0xB5
	IDChannels          ID = 0x9F
	IDBitDepth          ID = 0x6264
	IDContentEncodings  ID = 0x6D80

	// Tags children, RFC 9559 §5.1.8.
	IDTag             ID = 0x7373
	IDTargets         ID = 0x63C0
	IDTargetTypeValue ID = 0x68CA
	IDTargetType      ID = 0x63CA
	IDTagTrackUID     ID = 0x63C5
	IDSimpleTag       ID = 0x67C8
	IDTagName         ID = 0x45A3
	IDTagLanguage     ID = 0x447A
	IDTagDefault      ID = 0x4484
	IDTagString       ID = 0x4487
	IDTagBinary       ID = 0x4485
)

// isTopLevel reports whether id is an element that may appear directly in a
// Segment (RFC 9559 §5.1), or starts a new EBML document. Inside an
// unknown-size Cluster such an ID ends the Cluster (RFC 8794 §6.2).
func isTopLevel(id ID) bool {
	switch id {
	case IDEBML, IDSegment, IDSeekHead, IDInfo, IDCluster, IDTracks, IDCues,
		IDAttachments, IDChapters, IDTags:
		return true
	}
	return false
}
