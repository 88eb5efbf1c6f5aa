package cloop

// Op is an elementwise binary operation of Binary32 and Binary64.
type Op int

// The binary operations (their values are the C side's GL_ADD …).
const (
	Add Op = iota
	Sub
	Mul
	Div
)
