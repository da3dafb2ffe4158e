package cache

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestVersionAndExpiry(t *testing.T) {
	c := &Cache[string, int]{MaxBytes: 1 << 20}
	now := time.Now()
	c.Put("a", 1, 7, time.Time{}, 8)
	if v, ok := c.Get("a", 7, now); !ok || v != 1 {
		t.Fatalf("Get at the version it was put = %v, %v", v, ok)
	}
	if _, ok := c.Get("a", 8, now); ok {
		t.Fatal("an entry read at version 7 answers at version 8")
	}
	c.Put("b", 2, 0, now.Add(time.Second), 8)
	if _, ok := c.Get("b", 0, now); !ok {
		t.Fatal("an entry before its expiry is missing")
	}
	if _, ok := c.Get("b", 0, now.Add(time.Second)); ok {
		t.Fatal("an entry answers at its expiry")
	}
	c.Delete("a")
	if _, ok := c.Get("a", 7, now); ok {
		t.Fatal("a deleted entry answers")
	}
}

func TestBoundedByBytes(t *testing.T) {
	const max = 100 * (entryOverhead + 1000)
	c := &Cache[string, []byte]{MaxBytes: max}
	now := time.Now()
	for i := 0; i < 10_000; i++ {
		c.Put(fmt.Sprint(i), make([]byte, 1000), 0, time.Time{}, 1000)
		if b := c.Bytes(); b > max {
			t.Fatalf("after %d entries the cache holds %d bytes, over its bound %d", i+1, b, max)
		}
	}
	if _, ok := c.Get("9999", 0, now); !ok {
		t.Fatal("the newest entry was evicted to make room for itself")
	}
	c.Put("huge", make([]byte, max), 0, time.Time{}, max)
	if _, ok := c.Get("huge", 0, now); ok {
		t.Fatal("an entry larger than the cache was kept")
	}
	c.Put("9999", nil, 0, time.Time{}, 0)
	if b := c.Bytes(); b > max {
		t.Fatalf("replacing an entry leaves %d bytes, over %d", b, max)
	}
}

func TestConcurrentUse(t *testing.T) {
	c := &Cache[int, int]{MaxBytes: 50 * entryOverhead}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				c.Put(i%97, i, uint64(g), time.Time{}, 0)
				c.Get(i%89, uint64(g), time.Now())
			}
		}()
	}
	wg.Wait()
	if b := c.Bytes(); b > c.MaxBytes || b < 0 {
		t.Fatalf("bytes %d after concurrent use, bound %d", b, c.MaxBytes)
	}
}
