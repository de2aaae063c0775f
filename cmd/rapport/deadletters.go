package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rapportcrm/rapport/internal/app"
	"github.com/rapportcrm/rapport/internal/bus"
)

const deadLettersUsage = "usage: rapport dead-letters list [--limit N] [--after ID] | show ID | replay (--all | ID…) | drop (--all | ID…)"

// cmdDeadLetters lists, shows, replays and drops the entries the stream
// consumers gave up on (rapport:dead). Replaying is safe: an event takes
// effect once, and one still invalid comes back.
func cmdDeadLetters(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("dead-letters: " + deadLettersUsage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("dead-letters", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	limit := fs.Int64("limit", 50, "list at most this many")
	after := fs.String("after", "", "list the entries after this id (paging)")
	all := fs.Bool("all", false, "replay or drop every dead letter")
	stream := fs.String("stream", bus.DefaultDead, "the dead-letter stream")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("dead-letters: %w", err)
	}
	ids := fs.Args()
	if *limit < 1 {
		return errors.New("dead-letters: --limit must be at least 1")
	}
	url := getenv("RAPPORT_REDIS_URL")
	if url == "" {
		return errors.New("dead-letters: RAPPORT_REDIS_URL is not set (without Redis, events are posted to /events, which answers each one; nothing is dead-lettered)")
	}
	client, err := app.ConnectRedis(ctx, url)
	if err != nil {
		return fmt.Errorf("dead-letters: %w", err)
	}
	defer client.Close()
	dl := bus.DeadLetters{Client: client, Stream: *stream}

	switch verb {
	case "list":
		if len(ids) > 0 || *all {
			return errors.New("dead-letters: " + deadLettersUsage)
		}
		return listDeadLetters(ctx, dl, *after, *limit, stdout)
	case "show":
		if len(ids) != 1 {
			return errors.New("dead-letters: " + deadLettersUsage)
		}
		e, err := dl.Get(ctx, ids[0])
		if err != nil {
			return fmt.Errorf("dead-letters: %w", err)
		}
		fmt.Fprintf(stdout, "id          %s\ndead since  %s\nfrom        %s (entry %s)\ndeliveries  %d\nconsumer    %s\nreason      %s\nevent       %s\n",
			e.ID, e.At.Format(time.RFC3339), e.Source, e.SourceID, e.Deliveries, e.Consumer, e.Reason, e.Body)
		return nil
	case "replay", "drop":
		if (len(ids) == 0) == !*all {
			return errors.New("dead-letters: " + deadLettersUsage)
		}
		if *all {
			if ids, err = allDeadLetterIDs(ctx, dl); err != nil {
				return fmt.Errorf("dead-letters: %w", err)
			}
		}
		if verb == "drop" {
			n, err := dl.Drop(ctx, ids...)
			if err != nil {
				return fmt.Errorf("dead-letters: drop: %w", err)
			}
			fmt.Fprintf(stdout, "dropped %d dead letters\n", n)
			return nil
		}
		replayed, gone := 0, 0
		var failed []string
		for _, id := range ids {
			newID, err := dl.Replay(ctx, id)
			switch {
			case errors.Is(err, bus.ErrNoDeadEntry):
				gone++
			case err != nil:
				failed = append(failed, err.Error())
			default:
				replayed++
				fmt.Fprintf(stderr, "%s → %s\n", id, newID)
			}
		}
		fmt.Fprintf(stdout, "replayed %d dead letters", replayed)
		if gone > 0 {
			fmt.Fprintf(stdout, " (%d no longer there)", gone)
		}
		fmt.Fprintln(stdout)
		if len(failed) > 0 {
			return fmt.Errorf("dead-letters: %d not replayed:\n%s", len(failed), strings.Join(failed, "\n"))
		}
		return nil
	default:
		return fmt.Errorf("dead-letters: unknown action %q; %s", verb, deadLettersUsage)
	}
}

func listDeadLetters(ctx context.Context, dl bus.DeadLetters, after string, limit int64, stdout io.Writer) error {
	total, err := dl.Count(ctx)
	if err != nil {
		return fmt.Errorf("dead-letters: %w", err)
	}
	es, err := dl.List(ctx, after, limit)
	if err != nil {
		return fmt.Errorf("dead-letters: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEAD SINCE\tFROM\tEVENT\tTRIES\tREASON")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.At.Format(time.RFC3339), e.Source, eventLabel(e.Body), e.Deliveries, oneLine(e.Reason, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d of %d dead letters", len(es), total)
	if int64(len(es)) == limit && len(es) > 0 {
		fmt.Fprintf(stdout, "; next page: --after %s", es[len(es)-1].ID)
	}
	fmt.Fprintln(stdout)
	return nil
}

// allDeadLetterIDs reads every dead letter's id, page by page.
func allDeadLetterIDs(ctx context.Context, dl bus.DeadLetters) ([]string, error) {
	var ids []string
	after := ""
	for {
		es, err := dl.List(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		if len(es) < 1000 {
			return ids, nil
		}
		after = es[len(es)-1].ID
	}
}

// eventLabel names an envelope by its type, source and id, as far as it
// can be read.
func eventLabel(body []byte) string {
	var env struct{ ID, Type, Source, Tenant string }
	if json.Unmarshal(body, &env) != nil || env.Type == "" && env.ID == "" {
		return "(unreadable: " + oneLine(string(body), 40) + ")"
	}
	return fmt.Sprintf("%s %s/%s @%s", env.Type, env.Source, env.ID, env.Tenant)
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
