package producer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/aws/smithy-go"
)

// checkStored looks up, with ListFragments by producer timestamp, the
// fragments that were sent on a lost connection without a PERSISTED ack,
// and marks those the service has as persisted, so that they are not
// stored twice. It runs before a reconnection. When the service cannot be
// reached it returns the error, to be retried with backoff before
// anything is resent; when the service refuses the lookup (an HTTP error)
// the fragments are resent unchecked.
func (p *Producer) checkStored(ctx context.Context) error {
	p.mu.Lock()
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, f := range p.frags {
		if f.state == statePending && f.complete && f.sentBy != 0 {
			lo, hi = min(lo, f.tc), max(hi, f.tc)
		}
	}
	p.mu.Unlock()
	if lo > hi {
		return nil
	}
	stored, err := p.listFragments(ctx, lo, hi)
	var ae *APIError
	var se smithy.APIError
	switch {
	case err == nil:
	case errors.As(err, &ae) || errors.As(err, &se) || errors.Is(err, errBadList):
		p.log.Warn("producer: ListFragments refused; resending the unacknowledged fragments", "err", err)
		return nil
	default:
		return fmt.Errorf("ListFragments: %w", err)
	}
	p.mu.Lock()
	defer p.unlockAndFire()
	for _, f := range p.frags {
		if f.state == statePending && f.complete && f.sentBy != 0 && stored[f.tc] {
			p.log.Info("producer: fragment was stored without an ack; not resending it", "fragment", f.tc)
			p.stats.FragmentsFoundStored++
			p.persist(f)
		}
	}
	return nil
}

// errBadList reports a ListFragments answer that cannot be read.
var errBadList = errors.New("producer: unreadable ListFragments response")

// listFragments returns the producer timestamps (ms) of the stream's
// fragments that start within [lo, hi] ms.
func (p *Producer) listFragments(ctx context.Context, lo, hi int64) (map[int64]bool, error) {
	ep, err := p.listEndpoint(ctx)
	if err != nil {
		return nil, err
	}
	creds, err := p.cfg.AWS.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	out := map[int64]bool{}
	var next string
	for range 100 {
		in := map[string]any{"MaxResults": 1000}
		if p.cfg.StreamARN != "" {
			in["StreamARN"] = p.cfg.StreamARN
		} else {
			in["StreamName"] = p.cfg.StreamName
		}
		if next != "" {
			in["NextToken"] = next
		} else {
			in["FragmentSelector"] = map[string]any{
				"FragmentSelectorType": "PRODUCER_TIMESTAMP",
				"TimestampRange": map[string]any{
					"StartTimestamp": json.Number(formatMillis(lo)),
					"EndTimestamp":   json.Number(formatMillis(hi)),
				},
			}
		}
		body, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(ep, "/")+"/listFragments", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256(body)
		if err := p.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "kinesisvideo", p.cfg.AWS.Region, p.cfg.Now()); err != nil {
			return nil, err
		}
		resp, err := p.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("ListFragments: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			err := readAPIError(resp)
			resp.Body.Close()
			return nil, err
		}
		var res struct {
			Fragments []struct {
				ProducerTimestamp json.Number
			}
			NextToken string
		}
		err = json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadList, err)
		}
		for _, f := range res.Fragments {
			if secs, err := strconv.ParseFloat(string(f.ProducerTimestamp), 64); err == nil {
				out[int64(math.Round(secs*1e3))] = true
			}
		}
		if res.NextToken == "" {
			return out, nil
		}
		next = res.NextToken
	}
	return out, nil
}

// formatMillis writes ms since the epoch as epoch seconds, "1700000000.123".
func formatMillis(ms int64) string {
	return strconv.FormatInt(ms/1000, 10) + "." + fmt.Sprintf("%03d", ms%1000)
}

// listEndpoint returns the LIST_FRAGMENTS data endpoint.
func (p *Producer) listEndpoint(ctx context.Context) (string, error) {
	if p.cfg.DataEndpoint != "" {
		return p.cfg.DataEndpoint, nil
	}
	in := &kinesisvideo.GetDataEndpointInput{APIName: types.APINameListFragments}
	if p.cfg.StreamARN != "" {
		in.StreamARN = aws.String(p.cfg.StreamARN)
	} else {
		in.StreamName = aws.String(p.cfg.StreamName)
	}
	out, err := p.kvs.GetDataEndpoint(ctx, in, p.onControl)
	if err != nil {
		return "", fmt.Errorf("GetDataEndpoint: %w", err)
	}
	return aws.ToString(out.DataEndpoint), nil
}
