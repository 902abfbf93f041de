use super::*;
use crate::era::KernelVersion;

fn era(ma: u32, mi: u32) -> Era {
    Era::new(KernelVersion::new(ma, mi, 0), Arch::X86_64)
}

fn z(zone_type: ZoneType, managed: u64) -> WmZone {
    WmZone {
        nid: 0,
        zone_type,
        managed,
        present: managed,
    }
}

#[test]
fn int_sqrt_is_floor() {
    for x in [0u64, 1, 2, 3, 4, 15, 16, 17, 1 << 40, u64::MAX] {
        let r = int_sqrt(x);
        assert!(r as u128 * r as u128 <= x as u128);
        assert!((r as u128 + 1) * (r as u128 + 1) > x as u128);
    }
}

#[test]
fn min_free_kbytes_clamps_per_era() {
    let pages = 1u64 << 31; // 8 TiB: int_sqrt(2^33 KiB * 16) = 2^18.5 KiB, clamped
    assert_eq!(
        calculate_min_free_kbytes(&era(5, 4), pages, None).min_free_kbytes,
        65536
    );
    assert_eq!(
        calculate_min_free_kbytes(&era(5, 10), pages, None).min_free_kbytes,
        262144
    );
    assert_eq!(
        calculate_min_free_kbytes(&era(6, 1), 10, None).min_free_kbytes,
        128
    );
    let u = calculate_min_free_kbytes(&era(6, 1), 1 << 20, Some(100_000));
    assert_eq!(u.min_free_kbytes, 100_000);
    assert_eq!(
        u.warning.as_deref(),
        Some(
            "min_free_kbytes is not updated to 8192 because user defined value 100000 is preferred"
        )
    );
}

/// The 6.18 host: DMA 3840, DMA32 772917, Normal 196608 managed; THP raise to 67584 KiB.
#[test]
fn host_6_18_watermarks() {
    let e = era(6, 18);
    let zones = [
        z(ZoneType::Dma, 3840),
        z(ZoneType::Dma32, 772917),
        z(ZoneType::Normal, 196608),
        z(ZoneType::Movable, 0),
        z(ZoneType::Device, 0),
    ];
    let t = init_per_zone_wmark_min(
        &e,
        &zones,
        &MinFreeParams {
            thp: ThpBoot::On,
            ..MinFreeParams::default()
        },
    );
    assert_eq!(t.min_free_kbytes, 67584);
    let w = &t.wmarks;
    assert_eq!(
        (w[0].min, w[0].low, w[0].high, w[0].promo),
        (66, 82, 98, 114)
    );
    assert_eq!(
        (w[1].min, w[1].low, w[1].high, w[1].promo),
        (13416, 16770, 20124, 23478)
    );
    assert_eq!(
        (w[2].min, w[2].low, w[2].high, w[2].promo),
        (3412, 4265, 5118, 5971)
    );
    assert_eq!((w[3].min, w[3].low), (32, 32));
    assert_eq!((w[4].min, w[4].low), (0, 0));
    assert_eq!(t.protection[0], [0, 3019, 3787, 3787, 3787]);
    assert_eq!(t.protection[1], [0, 0, 768, 768, 768]);
    let p = zone_set_pageset_high_and_batch(&e, 772917, 16770, 2, 2);
    assert_eq!(
        (p.batch, p.high_min, p.high_max),
        (63, Some(8385), Some(48307))
    );
    assert_eq!(calculate_normal_threshold(772917, 2), 24);
    assert_eq!(calculate_normal_threshold(3840, 2), 4);
}

#[test]
fn lowmem_reserve_eras_differ_on_empty_zones() {
    let managed = [3912, 500000, 0, 0, 0];
    let types = [
        ZoneType::Dma,
        ZoneType::Dma32,
        ZoneType::Normal,
        ZoneType::Movable,
        ZoneType::Device,
    ];
    let r = |e: &Era| setup_per_zone_lowmem_reserve(e, &managed, &lowmem_reserve_ratio(e, &types));
    assert_eq!(r(&era(6, 6))[0], [0, 1953, 1953, 1953, 1953]);
    assert_eq!(r(&era(6, 12))[0], [0, 1953, 0, 0, 0]);
    assert_eq!(r(&era(6, 18))[0], [0, 1953, 1953, 1953, 1953]);
    // 3.18: ratio array packed by lower zone; Movable (no entry) is forced to 1.
    let old = [
        ZoneType::Dma,
        ZoneType::Dma32,
        ZoneType::Normal,
        ZoneType::Movable,
    ];
    assert_eq!(lowmem_reserve_ratio(&era(3, 18), &old), [256, 256, 32, 0]);
}

#[test]
fn thp_raise_counts_zones_and_caps() {
    let e = era(5, 4);
    let zones = [
        z(ZoneType::Dma, 3977),
        z(ZoneType::Dma32, 757733),
        z(ZoneType::Normal, 243535),
    ];
    let r = set_recommended_min_free_kbytes(&e, &zones, &[0, 0, 0], 4000, false);
    assert_eq!(r.min_free_kbytes, 67584);
    assert!(r.line.is_none());
    let r = set_recommended_min_free_kbytes(&e, &zones, &[0, 0, 0], 4000, true);
    assert_eq!(
        r.line.as_deref(),
        Some("raising min_free_kbytes from 4000 to 67584 to help transparent hugepage allocations")
    );
    // 5% cap on a small machine.
    let small = [z(ZoneType::Dma, 3840), z(ZoneType::Dma32, 100000)];
    let r = set_recommended_min_free_kbytes(&e, &small, &[0, 0], 128, false);
    assert_eq!(r.min_free_kbytes, (103840 / 20) * 4);
    assert!(!thp_raise_survives_boot(&era(4, 4)));
    assert!(thp_raise_survives_boot(&era(4, 7)));
}

#[test]
fn pcp_before_5_14_is_six_batches() {
    let p = zone_set_pageset_high_and_batch(&era(4, 18), 995127, 0, 2, 2);
    assert_eq!((p.batch, p.high), (31, 186));
    let p = zone_set_pageset_high_and_batch(&era(4, 18), 3977, 0, 2, 2);
    assert_eq!((p.batch, p.high), (1, 0));
}

#[test]
fn totalreserve_sums_max_protection_and_high() {
    let e = era(6, 6);
    let zones = [z(ZoneType::Dma, 4000), z(ZoneType::Dma32, 400000)];
    let t = init_per_zone_wmark_min(&e, &zones, &MinFreeParams::default());
    let expect = (t.protection[0][1] + t.wmarks[0].high).min(4000) + t.wmarks[1].high;
    assert_eq!(t.totalreserve_pages, expect);
}
