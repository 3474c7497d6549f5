//! ICMP errors the emulated link sends itself: "fragmentation needed" (IPv4) and "packet too
//! big" (IPv6), as a router with a smaller MTU would.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The ICMP error for `packet`, too big for `mtu`, sent from the link's far end. `None` when no
/// error is due (an ICMP error itself, a non-first fragment, no DF bit on IPv4, no source
/// address known, or a malformed packet) — the packet is then just dropped.
pub fn too_big(packet: &[u8], mtu: u32, source_v4: Option<Ipv4Addr>, source_v6: Option<Ipv6Addr>) -> Option<Vec<u8>> {
    match packet.first()? >> 4 {
        4 => too_big_v4(packet, mtu, source_v4?),
        6 => too_big_v6(packet, mtu, source_v6?),
        _ => None,
    }
}

fn too_big_v4(packet: &[u8], mtu: u32, source: Ipv4Addr) -> Option<Vec<u8>> {
    let ihl = usize::from(packet.first()? & 0x0f) * 4;
    if ihl < 20 || packet.len() < ihl {
        return None;
    }
    let flags_fragment = u16::from_be_bytes([packet[6], packet[7]]);
    let dont_fragment = flags_fragment & 0x4000 != 0;
    let fragment_offset = flags_fragment & 0x1fff;
    let protocol = packet[9];
    let is_icmp_error = protocol == 1 && packet.get(ihl).is_some_and(|t| matches!(t, 3 | 4 | 5 | 11 | 12));
    if !dont_fragment || fragment_offset != 0 || is_icmp_error {
        return None;
    }
    let quoted = &packet[..packet.len().min(ihl + 8)];
    let mut icmp = vec![3, 4, 0, 0, 0, 0];
    icmp.extend_from_slice(&u16::try_from(mtu.min(u32::from(u16::MAX))).ok()?.to_be_bytes());
    icmp.extend_from_slice(quoted);
    let sum = checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let total = u16::try_from(20 + icmp.len()).ok()?;
    let mut out = vec![0x45, 0];
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 64, 1, 0, 0]);
    out.extend_from_slice(&source.octets());
    out.extend_from_slice(&destination_of_reply(packet)?);
    let header_sum = checksum(&[&out]);
    out[10..12].copy_from_slice(&header_sum.to_be_bytes());
    out.extend_from_slice(&icmp);
    Some(out)
}

/// The reply goes back to the packet's source.
fn destination_of_reply(packet: &[u8]) -> Option<[u8; 4]> {
    packet.get(12..16)?.try_into().ok()
}

fn too_big_v6(packet: &[u8], mtu: u32, source: Ipv6Addr) -> Option<Vec<u8>> {
    if packet.len() < 40 {
        return None;
    }
    let next_header = packet[6];
    // ICMPv6 errors (types < 128) are never answered with another error.
    if next_header == 58 && packet.get(40).is_some_and(|t| *t < 128) {
        return None;
    }
    let reply_to: [u8; 16] = packet[8..24].try_into().ok()?;
    // The error must fit the IPv6 minimum MTU: 1280 − 40 (IPv6) − 8 (ICMPv6 header).
    let quoted = &packet[..packet.len().min(1232)];
    let mut icmp = vec![2, 0, 0, 0];
    icmp.extend_from_slice(&mtu.to_be_bytes());
    icmp.extend_from_slice(quoted);
    let length = u32::try_from(icmp.len()).ok()?;
    let pseudo: Vec<u8> = source
        .octets()
        .iter()
        .chain(reply_to.iter())
        .copied()
        .chain(length.to_be_bytes())
        .chain([0, 0, 0, 58])
        .collect();
    let sum = checksum(&[&pseudo, &icmp]);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut out = vec![0x60, 0, 0, 0];
    out.extend_from_slice(&u16::try_from(icmp.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&[58, 64]);
    out.extend_from_slice(&source.octets());
    out.extend_from_slice(&reply_to);
    out.extend_from_slice(&icmp);
    Some(out)
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for byte in parts.iter().flat_map(|p| p.iter().copied()) {
        match odd.take() {
            None => odd = Some(byte),
            Some(high) => sum += u32::from(u16::from_be_bytes([high, byte])),
        }
    }
    if let Some(high) = odd {
        sum += u32::from(u16::from_be_bytes([high, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_packet(len: usize, df: bool, protocol: u8) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[6] = if df { 0x40 } else { 0 };
        p[8] = 64;
        p[9] = protocol;
        p[12..16].copy_from_slice(&[192, 0, 2, 2]);
        p[16..20].copy_from_slice(&[203, 0, 113, 10]);
        p
    }

    #[test]
    fn ipv4_fragmentation_needed_is_well_formed() {
        let packet = ipv4_packet(1500, true, 6);
        let reply = too_big(&packet, 1400, Some(Ipv4Addr::new(198, 51, 100, 1)), None).expect("an ICMP error");
        assert_eq!(reply.len(), 20 + 8 + 28);
        assert_eq!(checksum(&[&reply[..20]]), 0, "IP header checksum verifies");
        assert_eq!(checksum(&[&reply[20..]]), 0, "ICMP checksum verifies");
        assert_eq!(&reply[12..16], &[198, 51, 100, 1]);
        assert_eq!(&reply[16..20], &[192, 0, 2, 2], "back to the sender");
        assert_eq!((reply[20], reply[21]), (3, 4));
        assert_eq!(u16::from_be_bytes([reply[26], reply[27]]), 1400);
        assert_eq!(&reply[28..48], &packet[..20], "quotes the original header");
    }

    #[test]
    fn no_error_without_df_for_icmp_errors_or_garbage() {
        let source = Some(Ipv4Addr::new(198, 51, 100, 1));
        assert!(too_big(&ipv4_packet(1500, false, 6), 1400, source, None).is_none());
        let mut icmp_error = ipv4_packet(1500, true, 1);
        icmp_error[20] = 3;
        assert!(too_big(&icmp_error, 1400, source, None).is_none());
        assert!(too_big(&[0x45, 0, 0], 1400, source, None).is_none());
        assert!(too_big(&[], 1400, source, None).is_none());
    }

    #[test]
    fn ipv6_packet_too_big_checksums_with_the_pseudo_header() {
        let mut packet = vec![0u8; 1500];
        packet[0] = 0x60;
        packet[4..6].copy_from_slice(&1460u16.to_be_bytes());
        packet[6] = 6;
        packet[8..24].copy_from_slice(&"2001:db8:1::2".parse::<Ipv6Addr>().expect("v6").octets());
        let source: Ipv6Addr = "2001:db8:2::1".parse().expect("v6");
        let reply = too_big(&packet, 1400, None, Some(source)).expect("an ICMPv6 error");
        assert_eq!(reply.len(), 1280, "fits the minimum MTU");
        let icmp = &reply[40..];
        let pseudo: Vec<u8> = reply[8..40]
            .iter()
            .copied()
            .chain((icmp.len() as u32).to_be_bytes())
            .chain([0, 0, 0, 58])
            .collect();
        assert_eq!(checksum(&[&pseudo, icmp]), 0);
        assert_eq!(u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]), 1400);
    }
}
