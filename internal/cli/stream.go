package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/spf13/cobra"
)

func newStreamCmd(s streams) *cobra.Command {
	var af awsFlags
	cmd := &cobra.Command{Use: "stream", Short: "Manage video streams (create, list, describe, delete)"}
	af.register(cmd)

	var retention int32
	var mediaType string
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a video stream", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			in := &kinesisvideo.CreateStreamInput{StreamName: aws.String(args[0]), DataRetentionInHours: aws.Int32(retention)}
			if mediaType != "" {
				in.MediaType = aws.String(mediaType)
			}
			out, err := c.CreateStream(cmd.Context(), in)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(s.out, aws.ToString(out.StreamARN))
			return err
		},
	}
	create.Flags().Int32Var(&retention, "retention-hours", 24, "data retention in hours (0 keeps nothing)")
	create.Flags().StringVar(&mediaType, "media-type", "", `media type, e.g. "video/h264"`)

	list := &cobra.Command{
		Use: "list", Short: "List video streams", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tRETENTION(h)\tMEDIA TYPE\tARN")
			p := kinesisvideo.NewListStreamsPaginator(c, &kinesisvideo.ListStreamsInput{})
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				for _, si := range page.StreamInfoList {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", aws.ToString(si.StreamName), si.Status,
						aws.ToInt32(si.DataRetentionInHours), aws.ToString(si.MediaType), aws.ToString(si.StreamARN))
				}
			}
			return tw.Flush()
		},
	}

	describe := &cobra.Command{
		Use: "describe NAME", Short: "Describe a video stream as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			out, err := c.DescribeStream(cmd.Context(), &kinesisvideo.DescribeStreamInput{StreamName: aws.String(args[0])})
			if err != nil {
				return err
			}
			return printJSON(s, out.StreamInfo)
		},
	}

	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a video stream and its data", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.DescribeStream(cmd.Context(), &kinesisvideo.DescribeStreamInput{StreamName: aws.String(args[0])})
			if err != nil {
				return err
			}
			_, err = c.DeleteStream(cmd.Context(), &kinesisvideo.DeleteStreamInput{StreamARN: d.StreamInfo.StreamARN})
			return err
		},
	}
	cmd.AddCommand(create, list, describe, del)
	return cmd
}

func newChannelCmd(s streams) *cobra.Command {
	var af awsFlags
	cmd := &cobra.Command{Use: "channel", Short: "Manage signaling channels (create, list, describe, delete)"}
	af.register(cmd)

	var ttl int32
	create := &cobra.Command{
		Use: "create NAME", Short: "Create a SINGLE_MASTER signaling channel", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			out, err := c.CreateSignalingChannel(cmd.Context(), &kinesisvideo.CreateSignalingChannelInput{
				ChannelName:               aws.String(args[0]),
				ChannelType:               types.ChannelTypeSingleMaster,
				SingleMasterConfiguration: &types.SingleMasterConfiguration{MessageTtlSeconds: aws.Int32(ttl)},
			})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(s.out, aws.ToString(out.ChannelARN))
			return err
		},
	}
	create.Flags().Int32Var(&ttl, "message-ttl", 60, "seconds an undelivered signaling message is kept (5-120)")

	list := &cobra.Command{
		Use: "list", Short: "List signaling channels", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tTYPE\tARN")
			p := kinesisvideo.NewListSignalingChannelsPaginator(c, &kinesisvideo.ListSignalingChannelsInput{})
			for p.HasMorePages() {
				page, err := p.NextPage(cmd.Context())
				if err != nil {
					return err
				}
				for _, ci := range page.ChannelInfoList {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", aws.ToString(ci.ChannelName), ci.ChannelStatus, ci.ChannelType, aws.ToString(ci.ChannelARN))
				}
			}
			return tw.Flush()
		},
	}

	describe := &cobra.Command{
		Use: "describe NAME", Short: "Describe a signaling channel as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			out, err := c.DescribeSignalingChannel(cmd.Context(), &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String(args[0])})
			if err != nil {
				return err
			}
			return printJSON(s, out.ChannelInfo)
		},
	}

	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a signaling channel", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.kvsClient(cmd.Context())
			if err != nil {
				return err
			}
			d, err := c.DescribeSignalingChannel(cmd.Context(), &kinesisvideo.DescribeSignalingChannelInput{ChannelName: aws.String(args[0])})
			if err != nil {
				return err
			}
			_, err = c.DeleteSignalingChannel(cmd.Context(), &kinesisvideo.DeleteSignalingChannelInput{ChannelARN: d.ChannelInfo.ChannelARN})
			return err
		},
	}
	cmd.AddCommand(create, list, describe, del)
	return cmd
}

func printJSON(s streams, v any) error {
	enc := json.NewEncoder(s.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
