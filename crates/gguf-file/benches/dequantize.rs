//! Dequantization throughput per type, on generated blocks.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gguf_file::quant::dequantize_into;
use gguf_file::GgmlType;

/// Bytes of `n_elements` elements of type `ty` with a deterministic pattern whose f16 scales
/// stay finite.
fn blocks(ty: GgmlType, n_elements: usize) -> Vec<u8> {
    let n_bytes = n_elements / ty.block_size() as usize * ty.type_size() as usize;
    (0..n_bytes).map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 7) as u8 & 0x3b).collect()
}

fn bench_dequantize(c: &mut Criterion) {
    let n = 1 << 22;
    let mut group = c.benchmark_group("dequantize_f32");
    group.throughput(Throughput::Elements(n as u64));
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1] {
        let bytes = blocks(ty, n);
        let mut out = vec![0f32; n];
        group.bench_with_input(BenchmarkId::from_parameter(ty), &bytes, |b, bytes| {
            b.iter(|| dequantize_into("bench", ty, bytes, &mut out).expect("valid input"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_dequantize);
criterion_main!(benches);
