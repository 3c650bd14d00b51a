package client_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADME compiles every Go program of README.md inside this module,
// so the quick start a newcomer copies keeps building.
func TestREADME(t *testing.T) {
	text, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(text))
	if len(blocks) < 2 {
		t.Fatalf("README has %d Go blocks, want the quick start and the client alone", len(blocks))
	}
	for i, code := range blocks {
		dir, err := os.MkdirTemp(".", "_readme-") // "_": no ./... pattern of a concurrent build picks it up
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("go", "vet", "./"+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("README block %d does not build: %v\n%s\n%s", i+1, err, out, code)
		}
	}
}

// goBlocks returns the ```go fenced blocks of markdown.
func goBlocks(markdown string) []string {
	var blocks []string
	for {
		_, rest, ok := strings.Cut(markdown, "```go\n")
		if !ok {
			return blocks
		}
		code, after, _ := strings.Cut(rest, "```")
		blocks = append(blocks, code)
		markdown = after
	}
}
