package logfile

import (
	"bytes"
	"time"
)

// The streams of a record.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// The tags of a record: a full line, or a part of one continued by the
// next record of the same stream.
const (
	tagFull    = "F"
	tagPartial = "P"
)

// maxLine is the longest text of one record; longer lines are split into
// partial records.
const maxLine = 16 * 1024

// record is one parsed line of a log file.
type record struct {
	ts      string // as written (RFC 3339 with nanoseconds, UTC)
	time    time.Time
	stream  string
	partial bool
	text    []byte // aliases the line it was parsed from
}

// appendRecord appends the encoded record (with its newline) to b.
func appendRecord(b []byte, t time.Time, stream string, partial bool, text []byte) []byte {
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	b = append(b, ' ')
	if partial {
		b = append(b, tagPartial...)
	} else {
		b = append(b, tagFull...)
	}
	b = append(b, ' ')
	b = append(b, text...)
	return append(b, '\n')
}

// parseRecord parses one line, without its newline. Lines that are not
// records are refused.
func parseRecord(line []byte) (record, bool) {
	var r record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return r, false
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, false
	}
	switch string(stream) {
	case Stdout:
		r.stream = Stdout
	case Stderr:
		r.stream = Stderr
	default:
		return r, false
	}
	tag, text, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// An empty line may lose its trailing space to an editor.
		tag, text = rest, nil
	}
	switch string(tag) {
	case tagFull:
	case tagPartial:
		r.partial = true
	default:
		return r, false
	}
	r.ts, r.time, r.text = string(ts), t, text
	return r, true
}
