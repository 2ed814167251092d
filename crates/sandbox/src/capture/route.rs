//! Default routes over loopback, through rtnetlink (no `ip` binary needed).
//!
//! A fresh network namespace has no route beyond `lo`, so `connect()` to any outside
//! address fails with `ENETUNREACH` before a packet exists, and the capture rules never
//! see it. `default dev lo` (with source 127.0.0.1 for IPv4: `lo` has no
//! universe-scope address to pick one from) gives the connection a route; the nat
//! rules then redirect it to the transparent listener before it goes anywhere. Without
//! the rules such a packet would only loop back and be dropped (nothing forwards in
//! the namespace), which is why the routes are added after the rules, never before.

use std::io;
use std::net::Ipv4Addr;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// `RTM_NEWROUTE` (linux/rtnetlink.h).
const RTM_NEWROUTE: u16 = 24;
/// `NLMSG_ERROR`: the kernel's acknowledgement (error 0) or failure.
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE`.
const FLAGS: u16 = 0x1 | 0x4 | 0x200 | 0x400;
/// `RT_TABLE_MAIN`.
const TABLE_MAIN: u8 = 254;
/// `RTPROT_BOOT`: what `ip route add` uses for routes an administrator adds.
const PROTO_BOOT: u8 = 3;
/// `RT_SCOPE_LINK`: a route without a gateway, as `ip route add ... dev X` makes it.
const SCOPE_LINK: u8 = 253;
/// `RTN_UNICAST`.
const TYPE_UNICAST: u8 = 1;
/// `RTA_OIF`: the output interface index.
const RTA_OIF: u16 = 4;
/// `RTA_PREFSRC`: the preferred source address.
const RTA_PREFSRC: u16 = 7;
/// The loopback device is always interface 1 (`LOOPBACK_IFINDEX`) in every namespace.
const LOOPBACK_IFINDEX: u32 = 1;

/// Which default route to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    V4,
    V6,
}

/// Adds `default dev lo` for `family` in the current network namespace (IPv4 with
/// source 127.0.0.1). Needs CAP_NET_ADMIN over the namespace.
pub(crate) fn add_default_via_loopback(family: Family) -> io::Result<()> {
    let sock = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE is protocol 0
    )?;
    let request = new_route_message(family);
    rustix::net::sendto(
        &sock,
        &request,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut reply = [0u8; 1024];
    let (len, _) = rustix::net::recv(&sock, &mut reply[..], RecvFlags::empty())?;
    ack_result(&reply[..len])
}

/// The `RTM_NEWROUTE` request: header, `rtmsg`, then the attributes.
fn new_route_message(family: Family) -> Vec<u8> {
    let mut attrs = Vec::new();
    push_attr(&mut attrs, RTA_OIF, &LOOPBACK_IFINDEX.to_ne_bytes());
    let af = match family {
        Family::V4 => {
            push_attr(&mut attrs, RTA_PREFSRC, &Ipv4Addr::LOCALHOST.octets());
            AddressFamily::INET
        }
        Family::V6 => AddressFamily::INET6,
    };
    let rtmsg = [
        u8::try_from(af.as_raw()).unwrap_or(0), // rtm_family
        0,                                      // rtm_dst_len: default route
        0,                                      // rtm_src_len
        0,                                      // rtm_tos
        TABLE_MAIN,
        PROTO_BOOT,
        SCOPE_LINK,
        TYPE_UNICAST,
        0, // rtm_flags (u32)
        0,
        0,
        0,
    ];
    let len = 16 + rtmsg.len() + attrs.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&u32::try_from(len).unwrap_or(0).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWROUTE.to_ne_bytes());
    msg.extend_from_slice(&FLAGS.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns
    msg.extend_from_slice(&rtmsg);
    msg.extend_from_slice(&attrs);
    msg
}

/// Appends one `rtattr` (length, type, payload) padded to 4 bytes.
fn push_attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&u16::try_from(len).unwrap_or(0).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// Reads the kernel's answer: an `NLMSG_ERROR` whose error is 0 means done.
fn ack_result(reply: &[u8]) -> io::Result<()> {
    let field = |at: usize, len: usize| reply.get(at..at + len);
    let kind = field(4, 2).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let errno = field(16, 4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match (kind, errno) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(errno)) => Err(io::Error::from_raw_os_error(-errno)),
        _ => Err(io::Error::other("unexpected rtnetlink reply")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_v4_request_names_loopback_and_its_source() {
        let msg = new_route_message(Family::V4);
        assert_eq!(msg.len(), 16 + 12 + 8 + 8);
        assert_eq!(
            u32::from_ne_bytes(msg[..4].try_into().unwrap()) as usize,
            msg.len()
        );
        assert_eq!(msg[16], libc::AF_INET as u8);
        assert_eq!(&msg[msg.len() - 4..], &[127, 0, 0, 1]);
        let v6 = new_route_message(Family::V6);
        assert_eq!(v6.len(), 16 + 12 + 8);
        assert_eq!(v6[16], libc::AF_INET6 as u8);
    }

    #[test]
    fn acks_and_errors_are_read() {
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert!(ack_result(&ack).is_ok());
        ack[16..20].copy_from_slice(&(-libc::EEXIST).to_ne_bytes());
        assert_eq!(
            ack_result(&ack).unwrap_err().raw_os_error(),
            Some(libc::EEXIST)
        );
        assert!(ack_result(&[0u8; 3]).is_err());
    }
}
