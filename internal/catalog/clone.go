package catalog

import (
	"bytes"
	"maps"
)

// Clone returns a deep copy of s: changing the copy's tags or JSON
// configurations leaves s unchanged. The copy keeps nil maps and slices nil.
// Clone of nil is nil.
func (s *Stream) Clone() *Stream {
	if s == nil {
		return nil
	}
	c := *s
	c.Tags = maps.Clone(s.Tags)
	c.ImageGeneration = bytes.Clone(s.ImageGeneration)
	c.Notification = bytes.Clone(s.Notification)
	c.Edge = bytes.Clone(s.Edge)
	return &c
}

// Clone returns a deep copy of c: changing the copy's tags or media storage
// configuration leaves c unchanged. The copy keeps nil maps and slices nil.
// Clone of nil is nil.
func (c *Channel) Clone() *Channel {
	if c == nil {
		return nil
	}
	d := *c
	d.Tags = maps.Clone(c.Tags)
	d.MediaStorage = bytes.Clone(c.MediaStorage)
	return &d
}
