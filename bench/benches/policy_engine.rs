//! Policy engine throughput: decisions per second on a generated 1,000-endpoint policy
//! (exact hosts, wildcards and L7 rules), and how long compiling that policy takes.
//!
//! Run: `cargo bench -p cordon-bench --bench policy_engine`
//! (add `-- --quick` for a fast pass). Criterion reports elements/s = decisions/s.
//!
//! The `decisions` group measures wall-clock time; `decisions_cpu` measures the same
//! loops in this thread's CPU time (from `/proc/thread-self/schedstat`), which is
//! "decisions per second on one core" even when the machine is shared and the
//! benchmark thread is preempted.

use std::hint::black_box;

use cordon_bench::{connect_probes, generated_policy, request_probes};
use cordon_policy::{CompiledPolicy, parse_str};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ENDPOINTS: usize = 1_000;

fn compile(c: &mut Criterion) {
    let yaml = generated_policy(ENDPOINTS);
    let policy = parse_str(&yaml, "<bench>")
        .map(|l| l.policy)
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(
        policy
            .network_policies
            .values()
            .map(|e| e.endpoints.len())
            .sum::<usize>(),
        ENDPOINTS
    );
    let mut group = c.benchmark_group("policy_1000_endpoints");
    group.sample_size(20);
    group.bench_function("parse_and_validate", |b| {
        b.iter(|| parse_str(black_box(&yaml), "<bench>"))
    });
    group.bench_function("compile", |b| {
        b.iter(|| CompiledPolicy::compile(black_box(&policy)))
    });
    group.finish();
}

/// CPU time consumed by the calling thread, in nanoseconds.
struct ThreadCpuTime;

fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("/proc/thread-self/schedstat is unreadable"))
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

fn decide(c: &mut Criterion) {
    decisions(c, "decisions");
}

fn decide_cpu(c: &mut Criterion<ThreadCpuTime>) {
    decisions(c, "decisions_cpu");
}

fn decisions<M: Measurement>(c: &mut Criterion<M>, group_name: &str) {
    let yaml = generated_policy(ENDPOINTS);
    let policy = parse_str(&yaml, "<bench>")
        .map(|l| l.policy)
        .unwrap_or_else(|err| panic!("{err}"));
    let compiled = CompiledPolicy::compile(&policy).unwrap_or_else(|err| panic!("{err}"));
    let probes = connect_probes(ENDPOINTS);
    let allowed = probes
        .iter()
        .filter(|(h, p, b)| compiled.decide_connect(h, *p, Some(b)).endpoint.is_some())
        .count();
    assert!(
        allowed > probes.len() / 2,
        "probe mix should be mostly allowed ({allowed})"
    );

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(probes.len() as u64));
    group.bench_function("decide_connect", |b| {
        b.iter(|| {
            for (host, port, binary) in &probes {
                black_box(compiled.decide_connect(black_box(host), *port, Some(binary)));
            }
        })
    });

    let endpoint = compiled
        .decide_connect("rest8.example.io", 443, Some("/usr/bin/git"))
        .endpoint
        .unwrap_or_else(|| panic!("L7 probe endpoint not allowed"));
    let requests = request_probes();
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function("decide_request", |b| {
        b.iter(|| {
            for (method, path, query) in &requests {
                black_box(compiled.decide_request(endpoint, method, black_box(path), *query));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, compile, decide);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = decide_cpu
}
criterion_main!(benches, cpu_benches);
