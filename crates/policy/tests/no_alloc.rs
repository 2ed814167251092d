//! Proves the hot path allocates nothing: a counting global allocator (this test
//! binary only) watches `decide_connect`, `decide_request` and `host_could_match`
//! after one warm-up call per path (globset's regex engine caches its scratch space
//! per thread on first use).
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cordon_policy::{CompiledPolicy, Verdict, parse_str};

thread_local! {
    /// Allocations made by this thread (const-initialised: touching it never allocates).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: every method forwards to `System` unchanged with the caller's arguments, so
// `System`'s guarantees hold; the only addition is a thread-local counter bump, which
// neither allocates nor touches the memory being managed.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's (non-zero-size layout), forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System.alloc` with this `layout` (we never
        // allocate any other way).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: `ptr`/`layout` come from `System` (see `dealloc`), `new_size` is the
        // caller's, forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

const POLICY: &str = r#"
version: 1
network_policies:
  github:
    endpoints:
      - { host: api.github.com, port: 443, protocol: rest, access: read-only }
      - host: code.example.org
        port: 443
        protocol: rest
        rules:
          - allow: { method: GET, path: "/repos/**", query: { tag: { any: ["v1.*", "v2.*"] } } }
          - allow: { method: POST, path: "/**/git-upload-pack" }
        deny_rules:
          - { method: "*", path: "/repos/*/secret/**" }
      - { host: "*.githubusercontent.com", ports: [80, 443] }
      - { host: "**.cdn.example.org", port: 443 }
      - { host: 10.1.2.3, port: 5432 }
    binaries:
      - { path: /usr/bin/git }
      - { path: "/usr/lib/git-core/*" }
      - { path: "/opt/**/bin/node" }
"#;

#[test]
fn decisions_do_not_allocate() {
    let loaded = parse_str(POLICY, "<no-alloc>").unwrap();
    let compiled = CompiledPolicy::compile(&loaded.policy).unwrap();
    let git = Some("/usr/bin/git");
    let connects: &[(&str, u16, Option<&str>)] = &[
        ("API.GitHub.com", 443, git),
        ("api.github.com", 80, git),
        (
            "raw.githubusercontent.com",
            443,
            Some("/usr/lib/git-core/git-remote-https"),
        ),
        ("a.b.cdn.example.org", 443, Some("/opt/x/y/bin/node")),
        ("a.b.cdn.example.org", 443, Some("/usr/bin/curl")),
        ("10.1.2.3", 5432, git),
        ("[2001:db8::1]", 443, git),
        ("unknown.example.com", 443, None),
        ("bad host!", 443, git),
    ];
    let code = compiled
        .decide_connect("code.example.org", 443, git)
        .endpoint
        .unwrap();
    let requests: &[(&str, &str, Option<&str>)] = &[
        ("GET", "/repos/a/b", Some("tag=v1.2")),
        ("GET", "/repos/a/b", Some("tag=v3.0&x=%20y")),
        ("GET", "/repos/a/secret/x", None),
        ("POST", "/org/r.git/git-upload-pack", None),
        ("DELETE", "/repos/a%2Fb", None),
        ("GET", "/a/../b", None),
    ];
    let run = || {
        for &(host, port, binary) in connects {
            std::hint::black_box(compiled.decide_connect(host, port, binary));
            std::hint::black_box(compiled.host_could_match(host));
        }
        for &(method, path, query) in requests {
            std::hint::black_box(compiled.decide_request(code, method, path, query));
        }
    };
    run(); // warm-up: per-thread regex caches
    let counted = allocations_during(|| {
        for _ in 0..100 {
            run();
        }
    });
    assert_eq!(
        counted, 0,
        "the decision hot path allocated {counted} times"
    );

    // The allowed twin of the claim: the counter does see allocations.
    assert!(allocations_during(|| drop(std::hint::black_box(vec![1u8; 64]))) > 0);
    assert_eq!(
        compiled.decide_connect("api.github.com", 443, git).verdict,
        Verdict::Allow
    );
}
