package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits on what an IDX header may declare. They bound the work and memory a
// corrupt or hostile header can ask for before the data backing it is read.
const (
	MaxIDXRank  = 8       // most dimensions an IDX header may declare
	MaxIDXBytes = 1 << 31 // largest payload (product of the dimensions) accepted
)

// IDX is the content of an IDX file with unsigned-byte elements (type code
// 0x08), the format of the MNIST family of datasets.
type IDX struct {
	Dims []int  // dimensions, outermost first; each positive
	Data []byte // the elements in row-major order; len = product of Dims
}

// idxTypeNames names the element types the IDX format defines.
var idxTypeNames = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
	0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// ReadIDX reads an IDX file of unsigned bytes. A gzip-compressed file
// (recognised by its content, whatever its name) is decompressed on the fly.
// Errors name the file and what is wrong with it.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read IDX: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read IDX: %w", err)
	}
	size := st.Size()
	if !st.Mode().IsRegular() {
		size = -1
	}
	return ReadIDXFrom(f, path, size)
}

// ReadIDXFrom reads IDX content from r. name is used in error messages. size
// is the number of bytes r holds (as from a stat of the file), or -1 if
// unknown. When it is known and the content is not compressed, the header is
// checked against it before any data is read, and the data buffer is sized
// from it; otherwise memory grows only with the bytes actually read, so a
// header that declares more data than the stream holds costs no more than
// the stream itself.
func ReadIDXFrom(r io.Reader, name string, size int64) (*IDX, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	stream := "file"
	if p, _ := br.Peek(2); len(p) == 2 && p[0] == 0x1f && p[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip header: %w", name, err)
		}
		defer zr.Close()
		src, size, stream = zr, -1, "decompressed stream"
	}
	var hdr [4]byte
	if n, err := io.ReadFull(src, hdr[:]); err != nil {
		return nil, idxReadErr(name, stream, int64(n), "the 4-byte magic number", err)
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, fmt.Errorf("%s: bad magic 0x%08x: an IDX file starts with two zero bytes", name, magic)
	}
	if hdr[2] != 0x08 {
		if t, ok := idxTypeNames[hdr[2]]; ok {
			return nil, fmt.Errorf("%s: unsupported IDX element type 0x%02x (%s); only unsigned bytes (0x08) are supported", name, hdr[2], t)
		}
		return nil, fmt.Errorf("%s: bad magic 0x%08x: unknown element type 0x%02x", name, magic, hdr[2])
	}
	rank := int(hdr[3])
	if rank == 0 || rank > MaxIDXRank {
		return nil, fmt.Errorf("%s: bad magic 0x%08x: %d dimensions (want 1 to %d)", name, magic, rank, MaxIDXRank)
	}
	dimBytes := make([]byte, 4*rank)
	if n, err := io.ReadFull(src, dimBytes); err != nil {
		return nil, idxReadErr(name, stream, int64(4+n), fmt.Sprintf("%d dimension sizes", rank), err)
	}
	dims := make([]int, rank)
	total := int64(1)
	for i := range dims {
		v := int64(binary.BigEndian.Uint32(dimBytes[4*i:]))
		if v == 0 {
			return nil, fmt.Errorf("%s: dimension %d is zero", name, i)
		}
		total *= v // cannot overflow: total ≤ MaxIDXBytes and v < 2^32 before the check
		if total > MaxIDXBytes {
			return nil, fmt.Errorf("%s: dimension %d (size %d) takes the payload past the %d-byte limit", name, i, v, int64(MaxIDXBytes))
		}
		dims[i] = int(v)
	}
	header := int64(4 + 4*rank)
	if size >= 0 {
		if size < header+total {
			return nil, fmt.Errorf("%s: truncated at byte %d: dims %v need %d bytes after the %d-byte header", name, size, dims, total, header)
		}
		if size > header+total {
			return nil, fmt.Errorf("%s: %d trailing bytes after the %d bytes that dims %v describe", name, size-header-total, header+total, dims)
		}
	}
	var data []byte
	var err error
	if size >= 0 {
		// The size the caller vouches for matches the header: read in one go.
		data = make([]byte, total)
		var n int
		n, err = io.ReadFull(src, data)
		data = data[:n]
	} else {
		data, err = readGrowing(src, int(total))
	}
	if err != nil {
		return nil, idxReadErr(name, stream, header+int64(len(data)), fmt.Sprintf("%d data bytes for dims %v", total, dims), err)
	}
	// The content must end here; reading on also makes gzip verify its checksum.
	var one [1]byte
	if n, err := io.ReadFull(src, one[:]); n > 0 {
		return nil, fmt.Errorf("%s: trailing data in %s after the %d bytes that dims %v describe", name, stream, header+total, dims)
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%s: truncated: the compressed stream ends before its trailer", name)
	} else if err != io.EOF {
		return nil, fmt.Errorf("%s: after the data: %w", name, err)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// idxReadErr describes a failed read at offset off of the given stream.
func idxReadErr(name, stream string, off int64, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: truncated at byte %d of the %s while reading %s", name, off, stream, what)
	}
	return fmt.Errorf("%s: at byte %d of the %s, reading %s: %w", name, off, stream, what, err)
}

// readGrowing reads exactly n bytes from r, growing its buffer only as data
// arrives (capacity at most twice the bytes read, starting at 1 MiB), so that
// a size claim the stream does not back cannot force a large allocation. On
// a short stream it returns what was read and io.ErrUnexpectedEOF.
func readGrowing(r io.Reader, n int) ([]byte, error) {
	const first = 1 << 20
	buf := make([]byte, 0, min(n, first))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(nb, buf)
			buf = nb
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			if len(buf) == n {
				break
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}
