package data_test

import (
	"fmt"

	"github.com/gradlab/gradlab/data"
)

func ExampleBatcher() {
	ds, _ := data.GaussianMixture(2, 2, 5, 3, 0.1, 1) // 20 points
	b, _ := data.NewBatcher(ds, data.BatcherOptions{BatchSize: 8, Shuffle: true, Seed: 7})
	for range 4 {
		bt := b.Next()
		fmt.Println(bt.Epoch, bt.Size, bt.EndOfEpoch)
	}
	st := b.State() // save with the checkpoint; Restore(st) continues from here
	fmt.Printf("%+v\n", st)
	// Output:
	// 0 8 false
	// 0 8 false
	// 0 4 true
	// 1 8 false
	// {Epoch:1 Pos:8}
}

func ExampleVocab() {
	c, _ := data.NewCorpus("tiny", "abracadabra")
	fmt.Println(c.Vocab.Size(), string(c.Vocab.Runes()), c.Tokens[:4])
	s, _ := c.Vocab.Decode([]int{4, 0, 1, 1, 3})
	fmt.Println(s)
	// Output:
	// 5 abcdr [0 1 4 0]
	// rabbd
}
