package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openkvs/openkvs/internal/awsapi"
	"github.com/openkvs/openkvs/internal/catalog/memstore"
)

// post sends body to path on the test server and returns the status, the
// x-amzn-ErrorType header and the decoded JSON body.
func post(t *testing.T, e *testEnv, path, body string) (int, string, map[string]any) {
	t.Helper()
	resp, err := e.srv.Client().Post(e.srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: response %q is not a JSON object: %v", path, raw, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), m
}

func TestRawRequests(t *testing.T) {
	e := newTestEnv(t)
	// A stream and a channel to aim at.
	_, _, m := post(t, e, "/createStream", `{"DeviceName":"dev","StreamName":"s","MediaType":"video/h264","DataRetentionInHours":2}`)
	streamARN := m["StreamARN"].(string)
	// The KVS WebRTC C SDK's CreateSignalingChannel body.
	_, _, m = post(t, e, "/createSignalingChannel", `{"ChannelName":"c","ChannelType":"SINGLE_MASTER","SingleMasterConfiguration":{"MessageTtlSeconds":60}, "Tags":[{"Key":"k","Value":"v"}]}`)
	channelARN := m["ChannelARN"].(string)
	otherARN := strings.Replace(streamARN, "stream/s/", "stream/t/", 1)

	cases := []struct {
		name, path, body string
		status           int
		code             awsapi.Code
		msg              string // substring of the message, if set
	}{
		{"malformed JSON", "/createStream", `{"StreamName":`, 400, awsapi.SerializationError, ""},
		{"not an object", "/describeStream", `["s"]`, 400, awsapi.SerializationError, ""},
		{"trailing garbage", "/describeStream", `{"StreamName":"s"} {}`, 400, awsapi.SerializationError, ""},
		{"name is a number", "/describeStream", `{"StreamName":5}`, 400, awsapi.SerializationError, ""},
		{"retention is a string", "/createStream", `{"StreamName":"x","DataRetentionInHours":"1"}`, 400, awsapi.SerializationError, ""},
		{"retention is fractional", "/createStream", `{"StreamName":"x","DataRetentionInHours":1.5}`, 400, awsapi.SerializationError, ""},
		{"tags is a list", "/createStream", `{"StreamName":"x","Tags":["a"]}`, 400, awsapi.SerializationError, ""},
		{"resource tags is a map", "/TagResource", `{"ResourceARN":"` + channelARN + `","Tags":{"a":"b"}}`, 400, awsapi.SerializationError, ""},
		{"max results overflows", "/listStreams", `{"MaxResults":1e30}`, 400, awsapi.SerializationError, ""},
		{"missing name", "/createStream", `{}`, 400, awsapi.InvalidArgument,
			"1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"},
		{"null name", "/createStream", `{"StreamName":null}`, 400, awsapi.InvalidArgument, "Value null at 'streamName'"},
		{"missing ARN on delete", "/deleteStream", `{"StreamName":"s"}`, 400, awsapi.InvalidArgument, "Value null at 'streamARN'"},
		{"neither name nor ARN", "/describeStream", `{}`, 400, awsapi.InvalidArgument, "StreamName or StreamARN"},
		{"name and ARN disagree", "/describeStream", `{"StreamName":"s","StreamARN":"` + otherARN + `"}`, 400, awsapi.InvalidArgument, "do not identify the same stream"},
		{"name and ARN disagree on update", "/updateStream", `{"StreamName":"t","StreamARN":"` + streamARN + `","CurrentVersion":"abc"}`, 400, awsapi.InvalidArgument, ""},
		{"channel ARN for a stream", "/getDataEndpoint", `{"StreamARN":"` + channelARN + `","APIName":"GET_MEDIA"}`, 400, awsapi.InvalidArgument, "not a stream ARN"},
		{"malformed ARN", "/describeStream", `{"StreamARN":"arn:aws:s3:::bucket"}`, 400, awsapi.InvalidArgument, "at 'streamARN'"},
		{"bad version", "/updateStream", `{"StreamName":"s","CurrentVersion":"not-alnum!"}`, 400, awsapi.InvalidArgument, "at 'currentVersion'"},
		{"missing APIName", "/getDataEndpoint", `{"StreamName":"s"}`, 400, awsapi.InvalidArgument, "Value null at 'aPIName'"},
		{"tag without value", "/TagResource", `{"ResourceARN":"` + channelARN + `","Tags":[{"Key":"a"}]}`, 400, awsapi.InvalidArgument, "tags.1.member.value"},
		{"empty protocols", "/getSignalingChannelEndpoint", `{"ChannelARN":"` + channelARN + `","SingleMasterChannelEndpointConfiguration":{"Protocols":[]}}`, 400, awsapi.InvalidArgument, "protocols"},
		{"lowercase protocol", "/getSignalingChannelEndpoint", `{"ChannelARN":"` + channelARN + `","SingleMasterChannelEndpointConfiguration":{"Protocols":["wss"]}}`, 400, awsapi.InvalidArgument, "enum value set"},
		{"media storage without config", "/updateMediaStorageConfiguration", `{"ChannelARN":"` + channelARN + `"}`, 400, awsapi.InvalidArgument, "mediaStorageConfiguration"},
		{"edge config without recorder", "/startEdgeConfigurationUpdate", `{"StreamName":"s","EdgeConfig":{"HubDeviceArn":"arn:aws:iot:us-east-1:1:thing/h"}}`, 400, awsapi.InvalidArgument, "edgeConfig.recorderConfig"},
		{"tags token", "/ListTagsForResource", `{"ResourceARN":"` + channelARN + `","NextToken":"AAAA"}`, 400, awsapi.InvalidArgument, "NextToken"},
		{"token with bad characters", "/listStreams", `{"NextToken":"a-b"}`, 400, awsapi.InvalidArgument, "at 'nextToken'"},
		{"missing stream", "/describeStream", `{"StreamName":"missing"}`, 404, awsapi.ResourceNotFound, msgStreamNotFound},
		{"missing channel", "/describeSignalingChannel", `{"ChannelName":"missing"}`, 404, awsapi.ResourceNotFound, msgChannelNotFound},
		{"no edge configuration", "/describeEdgeConfiguration", `{"StreamName":"s"}`, 404, awsapi.StreamEdgeConfigurationNotFound, ""},
		{"duplicate stream", "/createStream", `{"StreamName":"s"}`, 400, awsapi.ResourceInUse, ""},
		{"stale version", "/updateStream", `{"StreamName":"s","CurrentVersion":"abc"}`, 400, awsapi.VersionMismatch, ""},
		{"unknown members ignored", "/describeStream", `{"StreamName":"s","Bogus":[1,2,{}]}`, 200, "", ""},
		{"empty body", "/listStreams", ``, 200, "", ""},
		{"producer SDK createStream", "/createStream", `{"DeviceName":"d","StreamName":"p","MediaType":"video/h264","KmsKeyId":"alias/x","DataRetentionInHours":0}`, 200, "", ""},
		{"producer SDK tagStream", "/tagStream", `{"StreamName":"p","Tags":{"a":"b"}}`, 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, code, body := post(t, e, c.path, c.body)
			if status != c.status || code != string(c.code) {
				t.Fatalf("status %d %q, want %d %q (body %v)", status, code, c.status, c.code, body)
			}
			if c.code == "" {
				return
			}
			if body["__type"] != string(c.code) {
				t.Errorf("__type = %v", body["__type"])
			}
			msg, _ := body["Message"].(string)
			if msg == "" || !strings.Contains(msg, c.msg) {
				t.Errorf("Message %q lacks %q", msg, c.msg)
			}
		})
	}
}

func TestRawResponseShapes(t *testing.T) {
	e := newTestEnv(t)
	status, _, m := post(t, e, "/listStreams", `{}`)
	if status != 200 || m["StreamInfoList"] == nil || m["NextToken"] != nil {
		t.Fatalf("empty ListStreams = %d %v", status, m)
	}
	post(t, e, "/createStream", `{"StreamName":"s"}`)
	_, _, m = post(t, e, "/describeStream", `{"StreamName":"s"}`)
	info := m["StreamInfo"].(map[string]any)
	if ct, ok := info["CreationTime"].(float64); !ok || ct != float64(testEpoch.UnixMilli())/1000 {
		t.Errorf("CreationTime = %#v, want epoch seconds %v", info["CreationTime"], float64(testEpoch.UnixMilli())/1000)
	}
	if _, ok := info["DataRetentionInHours"].(float64); !ok {
		t.Errorf("DataRetentionInHours missing: %v", info)
	}
	for _, absent := range []string{"DeviceName", "MediaType"} {
		if _, ok := info[absent]; ok {
			t.Errorf("%s present though never set: %v", absent, info)
		}
	}
	_, _, m = post(t, e, "/listTagsForStream", `{"StreamName":"s"}`)
	if tags, ok := m["Tags"].(map[string]any); !ok || len(tags) != 0 {
		t.Errorf("Tags = %#v, want {}", m["Tags"])
	}
	status, _, m = post(t, e, "/updateStream", `{"StreamName":"s","CurrentVersion":"`+info["Version"].(string)+`"}`)
	if status != 200 || len(m) != 0 {
		t.Errorf("UpdateStream answered %d %v, want 200 {}", status, m)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{Endpoints: hostResolver{}}); !errors.Is(err, ErrNoStore) {
		t.Errorf("no store: %v", err)
	}
	if _, err := New(Config{Store: memstore.New()}); !errors.Is(err, ErrNoEndpoints) {
		t.Errorf("no endpoints: %v", err)
	}
	if _, err := New(Config{Store: memstore.New(), Endpoints: hostResolver{}, ActivationDelay: -1}); !errors.Is(err, ErrNegativeDelay) {
		t.Errorf("negative delay: %v", err)
	}
	s, err := New(Config{Store: memstore.New(), Endpoints: hostResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	if s.region != "us-east-1" || s.account != "000000000000" || s.maxStreams != 10000 || s.maxChannels != 10000 {
		t.Errorf("defaults: %+v", s)
	}
	seen := map[string]bool{}
	for _, op := range s.Operations() {
		if op.Handler == nil || !strings.HasPrefix(op.Pattern, "POST /") || seen[op.Name] || op.Auth != awsapi.AuthSigV4 {
			t.Errorf("operation %+v", op)
		}
		seen[op.Name] = true
	}
	if len(seen) != 32 {
		t.Errorf("%d operations, want 32", len(seen))
	}
}

func TestToken(t *testing.T) {
	for _, name := range []string{"a", "cam-1", strings.Repeat("x", 256)} {
		tok := encodeToken(tokenStreams, name)
		if len(tok) > 1024 || !nextTokenPattern.MatchString(tok) {
			t.Fatalf("token %q breaks the model constraints", tok)
		}
		got, err := decodeToken(tokenStreams, tok)
		if err != nil || got != name {
			t.Fatalf("decode(encode(%q)) = %q, %v", name, got, err)
		}
		if _, err := decodeToken(tokenChannels, tok); !awsapi.IsCode(err, awsapi.InvalidArgument) {
			t.Fatalf("token accepted for another listing: %v", err)
		}
	}
}

// FuzzToken: decodeToken never panics and accepts only what encodeToken
// made.
func FuzzToken(f *testing.F) {
	f.Add(encodeToken(tokenStreams, "cam-1"))
	f.Add("AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		after, err := decodeToken(tokenStreams, tok)
		if err == nil && tok != "" && encodeToken(tokenStreams, after) != tok {
			t.Fatalf("accepted foreign token %q (after %q)", tok, after)
		}
	})
}

// FuzzOperations sends arbitrary bodies to every operation: none may panic
// or answer 5xx, and every answer is a JSON object, with an error type on
// failures.
func FuzzOperations(f *testing.F) {
	store := memstore.New()
	svc, err := New(Config{Store: store, Endpoints: hostResolver{}})
	if err != nil {
		f.Fatal(err)
	}
	ops := svc.Operations()
	ctx := context.Background()
	seed := func(path, body string) {
		for _, op := range ops {
			if op.Pattern == "POST "+path {
				rec := httptest.NewRecorder()
				op.Handler.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body)))
				if rec.Code != 200 {
					f.Fatalf("seed %s %s: %d %s", path, body, rec.Code, rec.Body)
				}
			}
		}
	}
	seed("/createStream", `{"StreamName":"s","DataRetentionInHours":1}`)
	seed("/createSignalingChannel", `{"ChannelName":"c"}`)
	st, _ := store.GetStream(ctx, "s")
	ch, _ := store.GetChannel(ctx, "c")

	bodies := []string{
		`{}`, `{"StreamName":"s"}`, `{"StreamARN":"` + st.ARN + `"}`, `{"ChannelName":"c"}`, `{"ChannelARN":"` + ch.ARN + `"}`,
		`{"ResourceARN":"` + ch.ARN + `","Tags":[{"Key":"k","Value":"v"}],"TagKeyList":["k"]}`,
		`{"StreamName":"s","Tags":{"k":"v"},"TagKeyList":["k"],"CurrentVersion":"` + st.Version + `"}`,
		`{"StreamName":"s","APIName":"GET_MEDIA","Operation":"INCREASE_DATA_RETENTION","DataRetentionChangeInHours":1}`,
		`{"ChannelARN":"` + ch.ARN + `","SingleMasterChannelEndpointConfiguration":{"Protocols":["WSS","HTTPS","WEBRTC"],"Role":"VIEWER"}}`,
		`{"ChannelARN":"` + ch.ARN + `","MediaStorageConfiguration":{"Status":"ENABLED","StreamARN":"` + st.ARN + `"}}`,
		`{"MaxResults":1,"NextToken":"` + encodeToken(tokenStreams, "a") + `","StreamNameCondition":{"ComparisonOperator":"BEGINS_WITH","ComparisonValue":"s"}}`,
		`{"StreamName":"s","ImageGenerationConfiguration":{"Status":"ENABLED","ImageSelectorType":"SERVER_TIMESTAMP","DestinationConfig":{"Uri":"s3://b/p","DestinationRegion":"us-east-1"},"SamplingInterval":200,"Format":"PNG","FormatConfig":{"JPEGQuality":"5"}}}`,
		`{"StreamName":"s","EdgeConfig":{"HubDeviceArn":"arn:aws:iot:us-east-1:1:thing/h","RecorderConfig":{"MediaSourceConfig":{"MediaUriSecretArn":"arn:aws:secretsmanager:us-east-1:1:secret:x","MediaUriType":"RTSP_URI"}}}}`,
		`{"HubDeviceArn":"arn:aws:iot:us-east-1:1:thing/h","MaxResults":10}`,
		`{"StreamName":`, `[]`, `null`, `{"StreamName":"\u0000"}`,
	}
	for i := range ops {
		for _, b := range bodies {
			f.Add(uint8(i), []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		op := ops[int(which)%len(ops)]
		path := strings.TrimPrefix(op.Pattern, "POST ")
		rec := httptest.NewRecorder()
		op.Handler.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body)))
		if rec.Code >= 500 {
			t.Fatalf("%s %q: status %d %s", op.Name, body, rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s %q: response %q is not a JSON object", op.Name, body, rec.Body)
		}
		if rec.Code != 200 && (rec.Header().Get("x-amzn-ErrorType") == "" || m["__type"] == nil) {
			t.Fatalf("%s %q: error %d without a type: %s", op.Name, body, rec.Code, rec.Body)
		}
	})
}
