package controlplane

import (
	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog"
)

// Wire shapes shared by several operations. Member names are those of the
// kinesisvideo service model (PascalCase); optional members are pointers so
// that an absent member and a zero value can be told apart.

// streamInfo is the StreamInfo shape.
type streamInfo struct {
	DeviceName           string            `json:"DeviceName,omitempty"`
	StreamName           string            `json:"StreamName"`
	StreamARN            string            `json:"StreamARN"`
	MediaType            string            `json:"MediaType,omitempty"`
	KmsKeyID             string            `json:"KmsKeyId,omitempty"`
	Version              string            `json:"Version"`
	Status               string            `json:"Status"`
	CreationTime         *awsapi.Timestamp `json:"CreationTime,omitempty"`
	DataRetentionInHours int               `json:"DataRetentionInHours"`
}

func (s *Service) streamInfo(st *catalog.Stream) streamInfo {
	return streamInfo{
		DeviceName:           st.DeviceName,
		StreamName:           st.Name,
		StreamARN:            st.ARN,
		MediaType:            st.MediaType,
		KmsKeyID:             st.KmsKeyID,
		Version:              st.Version,
		Status:               s.status(st.Status, st.CreationTime),
		CreationTime:         awsapi.TimestampOf(st.CreationTime),
		DataRetentionInHours: st.DataRetentionInHours,
	}
}

// singleMasterConfiguration is the SingleMasterConfiguration shape.
type singleMasterConfiguration struct {
	MessageTtlSeconds *int64 `json:"MessageTtlSeconds,omitempty"`
}

// channelInfo is the ChannelInfo shape.
type channelInfo struct {
	ChannelName               string                     `json:"ChannelName"`
	ChannelARN                string                     `json:"ChannelARN"`
	ChannelType               string                     `json:"ChannelType"`
	ChannelStatus             string                     `json:"ChannelStatus"`
	CreationTime              *awsapi.Timestamp          `json:"CreationTime,omitempty"`
	SingleMasterConfiguration *singleMasterConfiguration `json:"SingleMasterConfiguration,omitempty"`
	Version                   string                     `json:"Version"`
}

func (s *Service) channelInfo(c *catalog.Channel) channelInfo {
	ttl := int64(c.MessageTTLSeconds)
	return channelInfo{
		ChannelName:               c.Name,
		ChannelARN:                c.ARN,
		ChannelType:               c.Type,
		ChannelStatus:             s.status(c.Status, c.CreationTime),
		CreationTime:              awsapi.TimestampOf(c.CreationTime),
		SingleMasterConfiguration: &singleMasterConfiguration{MessageTtlSeconds: &ttl},
		Version:                   c.Version,
	}
}

// tag is the Tag shape of the resource (list) tag operations.
type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

// streamRef is the StreamName / StreamARN pair most stream operations
// accept; embedded in request types.
type streamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

// channelRef is the ChannelName / ChannelARN pair of the channel Describe
// operations; embedded in request types.
type channelRef struct {
	ChannelName *string `json:"ChannelName"`
	ChannelARN  *string `json:"ChannelARN"`
}
