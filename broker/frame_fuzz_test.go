package broker

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// sizedFrameOf encodes req as a client sends it: frameOf behind its 4-byte size.
func sizedFrameOf(req kmsg.Request, corr int32) []byte {
	f := frameOf(req, corr)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)
}

// frameOf encodes req as a client would, without the size prefix.
func frameOf(req kmsg.Request, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "fuzz"...)
	if req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) || req.Key() == int16(kmsg.ApiVersions) && req.GetVersion() >= 3 {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// exchange sends req on c as one frame with correlation id corr and decodes the
// broker's answer to it.
func exchange(t testing.TB, c net.Conn, req kmsg.Request, corr int32) kmsg.Response {
	t.Helper()
	frame := frameOf(req, corr)
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...)); err != nil {
		t.Fatal(err)
	}
	answer, err := readFrame(c)
	if err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	skip := 8 // the size and the correlation id
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		skip++ // the response header's empty tag buffer
	}
	if err := resp.ReadFrom(answer[skip:]); err != nil {
		t.Fatal(err)
	}
	return resp
}

// FuzzRequestFrame feeds frames to the request parser and handlers of a real broker:
// whatever comes in, the broker answers or refuses, and never panics.
func FuzzRequestFrame(f *testing.F) {
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(12)
	f.Add(frameOf(meta, 1))
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	f.Add(frameOf(av, 2))
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(7)
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "fz", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	f.Add(frameOf(ct, 3))
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = -1
	prt := kmsg.NewProduceRequestTopic()
	prt.Topic = "fz"
	prp := kmsg.NewProduceRequestTopicPartition()
	prp.Records = producerBatch(-1, -1, -1, 2)
	prt.Partitions = append(prt.Partitions, prp)
	pr.Topics = append(pr.Topics, prt)
	f.Add(frameOf(pr, 4))
	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(12)
	frt := kmsg.NewFetchRequestTopic()
	frt.Topic = "fz"
	frt.Partitions = append(frt.Partitions, kmsg.NewFetchRequestTopicPartition())
	fr.Topics = append(fr.Topics, frt)
	f.Add(frameOf(fr, 5))
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.SetVersion(9)
	jg.Group, jg.ProtocolType = "g", "consumer"
	f.Add(frameOf(jg, 6))

	s, err := New(Config{Dir: f.TempDir(), MaxPartitions: 8})
	if err != nil {
		f.Fatal(err)
	}
	// Long polls and group waits end at once: the fuzzer explores parsing, not time.
	s.cancel()
	s.groups.Close()
	f.Cleanup(func() { s.topics.close() })
	a, b := net.Pipe()
	f.Cleanup(func() { a.Close(); b.Close() })
	c := newConn(s, a)

	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < 10 {
			return // readLoop refuses these before parse
		}
		p, err := c.parse(frame)
		if err != nil {
			return
		}
		resp := p.resp
		if p.wait != nil {
			resp = p.wait()
		}
		if resp != nil {
			resp.AppendTo(nil)
		}
	})
}
