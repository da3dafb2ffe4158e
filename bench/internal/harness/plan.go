package harness

// Plan fixes how much work every row does. Counts are fixed rather than
// time-boxed so both registries move exactly the same bytes.
type Plan struct {
	// Conc lists the client concurrency levels; every per-row count slice
	// below is indexed like it.
	Conc  []int
	Sizes []SizePlan
	// ManifestGets is the number of manifest GETs per concurrency level.
	ManifestGets []int
	// PullWorkingSet caps the bytes of distinct blobs a pull row cycles
	// through, so pulls are served from the page cache and measure the
	// registry rather than the disk.
	PullWorkingSet int64

	// Machine-limit work per sample and concurrency level: bytes streamed
	// over TLS (split evenly across conc connections) and bytes hashed (in
	// HashChunk pieces spread over conc goroutines); then bytes written to
	// disk.
	TLSCopyBytes int64
	HashBytes    int64
	HashChunk    int64
	DiskBytes    int64
}

// SizePlan is one blob size: how many distinct blobs each push row uploads
// and how many GETs each pull row makes.
type SizePlan struct {
	Label  string
	Size   int64
	Pushes []int
	Pulls  []int
}

const (
	kiB = 1 << 10
	miB = 1 << 20
	giB = 1 << 30
)

// DefaultPlan is the published benchmark, sized to finish in under ten
// minutes on two cores with every row lasting at least about a second. At 1 GiB and concurrency 32 it really pushes 32
// distinct 1 GiB blobs per registry, because flat memory under many large
// concurrent uploads is one of the targets; one registry's storage exists at
// a time and is deleted before the next registry starts.
func DefaultPlan() Plan {
	return Plan{
		Conc: []int{1, 32},
		Sizes: []SizePlan{
			{Label: "1 MiB", Size: miB, Pushes: []int{128, 1024}, Pulls: []int{512, 2048}},
			{Label: "100 MiB", Size: 100 * miB, Pushes: []int{8, 32}, Pulls: []int{16, 128}},
			{Label: "1 GiB", Size: giB, Pushes: []int{4, 32}, Pulls: []int{4, 32}},
		},
		ManifestGets:   []int{5000, 20000},
		PullWorkingSet: giB,
		TLSCopyBytes:   giB,
		HashBytes:      512 * miB,
		HashChunk:      64 * miB,
		DiskBytes:      512 * miB,
	}
}

// QuickPlan exercises every code path in seconds; its numbers mean nothing.
func QuickPlan() Plan {
	return Plan{
		Conc: []int{1, 4},
		Sizes: []SizePlan{
			{Label: "64 KiB", Size: 64 * kiB, Pushes: []int{4, 16}, Pulls: []int{8, 32}},
			{Label: "3 MiB+1", Size: 3*miB + 1, Pushes: []int{2, 4}, Pulls: []int{2, 8}},
		},
		ManifestGets:   []int{20, 80},
		PullWorkingSet: 8 * miB,
		TLSCopyBytes:   16 * miB,
		HashBytes:      16 * miB,
		HashChunk:      4 * miB,
		DiskBytes:      16 * miB,
	}
}
