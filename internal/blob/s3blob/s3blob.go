// Package s3blob is a blob.Bucket in an S3-compatible object store (Amazon
// S3, SeaweedFS, MinIO, Ceph RGW, ...), through aws-sdk-go-v2.
//
// A Put is acknowledged by the store only once the object is stored (S3's
// read-after-write consistency), so a nil error means that every node
// reading the bucket sees the object.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/openkvs/openkvs/internal/blob"
)

// Config configures New.
type Config struct {
	// Bucket is the bucket's name. Required.
	Bucket string
	// Prefix is prepended, with a slash, to every key, so that several
	// deployments can share a bucket. Optional.
	Prefix string
	// Endpoint is the store's base URL, e.g. "http://127.0.0.1:8333".
	// Empty means Amazon S3 itself.
	Endpoint string
	// Region is the signing region. Defaults to AWS_REGION, else
	// "us-east-1".
	Region string
	// AccessKeyID and SecretAccessKey are static credentials. When both
	// are empty the SDK's default chain is used (AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, shared files, instance roles).
	AccessKeyID     string
	SecretAccessKey string
	// PathStyle addresses buckets as http://endpoint/bucket rather than
	// http://bucket.endpoint, as most S3-compatible stores need. It is
	// implied when Endpoint is set.
	PathStyle bool
	// CreateBucket creates the bucket when it does not exist yet (for
	// development setups).
	CreateBucket bool
	// HTTPClient sends the requests. Defaults to the SDK's client with
	// up to 256 idle connections kept to the store (the SDK keeps 10),
	// so that many streams uploading at once reuse their connections.
	HTTPClient *http.Client
}

// idleConns is how many idle connections the default client keeps.
const idleConns = 256

// ParseURL splits "s3://bucket/prefix" into its bucket and prefix.
func ParseURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("s3blob: %q is not an s3://bucket/prefix URL", raw)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		if err := blob.CheckKey(prefix); err != nil {
			return "", "", fmt.Errorf("s3blob: prefix of %q: %w", raw, err)
		}
	}
	return u.Host, prefix, nil
}

// Bucket is a blob.Bucket in an S3 bucket. It is safe for concurrent use.
type Bucket struct {
	client *s3.Client
	bucket string
	prefix string // "" or ending in "/"
}

var _ blob.Bucket = (*Bucket)(nil)

// New connects to the store and checks that the bucket exists (creating it
// if cfg.CreateBucket is set).
func New(ctx context.Context, cfg Config) (*Bucket, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3blob: Config.Bucket is required")
	}
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(cfg.HTTPClient))
	} else {
		opts = append(opts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = idleConns, idleConns
		})))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3blob: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
		if cfg.PathStyle {
			o.UsePathStyle = true
		}
		// Checksums only where the API requires them: not every
		// S3-compatible store accepts the SDK's default trailing
		// checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	b := &Bucket{client: client, bucket: cfg.Bucket}
	if cfg.Prefix != "" {
		b.prefix = strings.Trim(cfg.Prefix, "/") + "/"
	}
	_, err = client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)})
	if err != nil && cfg.CreateBucket && isCode(err, "NotFound", "NoSuchBucket") {
		_, err = client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)})
		if isCode(err, "BucketAlreadyOwnedByYou", "BucketAlreadyExists") {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("s3blob: bucket %s: %w", cfg.Bucket, err)
	}
	return b, nil
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

func (b *Bucket) key(key string) (*string, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	return aws.String(b.prefix + key), nil
}

// wrap turns the store's error for key into the blob package's.
func wrap(op, key string, err error) error {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) || isCode(err, "NoSuchKey", "NotFound", "InvalidRange") {
		return fmt.Errorf("s3blob: %s %s: %w (%w)", op, key, blob.ErrNotFound, err)
	}
	return fmt.Errorf("s3blob: %s %s: %w", op, key, err)
}

// Put implements blob.Bucket. A body that is not an io.ReadSeeker is read
// into memory first: the SDK signs the payload, which needs it twice.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	body, ok := r.(io.ReadSeeker)
	if !ok {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("s3blob: put %s: read body: %w", key, err)
		}
		body = bytes.NewReader(buf)
	}
	_, err = b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           k,
		Body:          body,
		ContentLength: aws.Int64(size),
	})
	if err != nil {
		return wrap("put", key, err)
	}
	return nil
}

// Get implements blob.Bucket.
func (b *Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	return b.get(ctx, key, nil)
}

// GetRange implements blob.Bucket.
func (b *Bucket) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if off < 0 || n <= 0 {
		return nil, fmt.Errorf("s3blob: %s: bad range %d+%d", key, off, n)
	}
	return b.get(ctx, key, aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1)))
}

func (b *Bucket) get(ctx context.Context, key string, rng *string) ([]byte, error) {
	k, err := b.key(key)
	if err != nil {
		return nil, err
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: k, Range: rng})
	if err != nil {
		return nil, wrap("get", key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if out.ContentLength != nil && *out.ContentLength > 0 {
		buf.Grow(int(*out.ContentLength))
	}
	if _, err := buf.ReadFrom(out.Body); err != nil {
		return nil, fmt.Errorf("s3blob: get %s: %w", key, err)
	}
	return buf.Bytes(), nil
}

// List implements blob.Bucket.
func (b *Bucket) List(ctx context.Context, prefix string) ([]blob.Object, error) {
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(b.prefix + prefix),
	})
	var out []blob.Object
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3blob: list %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, blob.Object{Key: strings.TrimPrefix(aws.ToString(o.Key), b.prefix), Size: aws.ToInt64(o.Size)})
		}
	}
	return out, nil
}

// Delete implements blob.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	k, err := b.key(key)
	if err != nil {
		return err
	}
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: k}); err != nil && !blob.IsNotFound(wrap("delete", key, err)) {
		return wrap("delete", key, err)
	}
	return nil
}
