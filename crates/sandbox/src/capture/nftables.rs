//! The capture ruleset of [`super::rules::nft_ruleset`], installed over nfnetlink
//! directly: one atomic batch, no `nft` process. Starting `nft` (a fork, an exec, a
//! dozen shared libraries, a parser) was the largest single cost of a sandbox start;
//! the ruleset never changes shape (only its two ports), so its bytecode is written
//! here once, expression by expression, exactly as `nft --debug=netlink` shows it for
//! the text form. When the kernel refuses the batch (no nf_tables, an expression
//! module missing), the caller falls back to the rule tools.
//!
//! Constants are from `linux/netfilter/nf_tables.h` and `linux/netfilter/nfnetlink.h`;
//! every 32-bit nf_tables attribute is big-endian, the netlink headers native-endian.

use std::io;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::CaptureSpec;

/// `NETLINK_NETFILTER`.
const NETLINK_NETFILTER: i32 = 12;
/// `NFNL_SUBSYS_NFTABLES`, the high byte of every nf_tables message type.
const SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NLMSG_ERROR: u16 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;

/// `NFPROTO_INET`: one table for IPv4 and IPv6.
const FAMILY_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
/// `NF_INET_LOCAL_OUT`.
const HOOK_OUTPUT: u32 = 3;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_TABLE_FLAGS: u16 = 2;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;

/// `NFT_REG_VERDICT` and `NFT_REG_1`.
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;

const TABLE: &str = "cordon_capture";

/// A rule's verdict.
#[derive(Debug, Clone, Copy)]
enum Verdict {
    Accept,
    Return,
}

impl Verdict {
    fn code(self) -> u32 {
        match self {
            Verdict::Accept => 1,              // NF_ACCEPT
            Verdict::Return => (-5i32) as u32, // NFT_RETURN
        }
    }
}

/// One nf_tables expression.
#[derive(Debug, Clone)]
enum Expr {
    /// `meta load KEY => reg 1` (15 nfproto, 16 l4proto).
    Meta(u32),
    /// `cmp eq reg 1 DATA`.
    CmpEq(Vec<u8>),
    /// `payload load LEN @ BASE + OFFSET => reg 1` (base 1 network, 2 transport).
    Payload { base: u32, offset: u32, len: u32 },
    /// `immediate reg 1 DATA`.
    Value(Vec<u8>),
    /// `immediate reg 0 VERDICT`.
    Verdict(Verdict),
    /// `redir proto_min reg 1 flags 0x2` (`NF_NAT_RANGE_PROTO_SPECIFIED`).
    Redirect,
    /// `reject type T code C`.
    Reject { kind: u32, code: u8 },
}

const META_NFPROTO: u32 = 15;
const META_L4PROTO: u32 = 16;
const BASE_NETWORK: u32 = 1;
const BASE_TRANSPORT: u32 = 2;

/// `ip daddr 127.0.0.0/8` as nft compiles it (the first byte of the address).
fn ipv4_loopback() -> Vec<Expr> {
    vec![
        Expr::Meta(META_NFPROTO),
        Expr::CmpEq(vec![NFPROTO_IPV4]),
        Expr::Payload {
            base: BASE_NETWORK,
            offset: 16,
            len: 1,
        },
        Expr::CmpEq(vec![127]),
    ]
}

/// `ip6 daddr ::1`.
fn ipv6_loopback() -> Vec<Expr> {
    vec![
        Expr::Meta(META_NFPROTO),
        Expr::CmpEq(vec![NFPROTO_IPV6]),
        Expr::Payload {
            base: BASE_NETWORK,
            offset: 24,
            len: 16,
        },
        Expr::CmpEq(std::net::Ipv6Addr::LOCALHOST.octets().to_vec()),
    ]
}

fn l4proto(proto: i32) -> Vec<Expr> {
    vec![
        Expr::Meta(META_L4PROTO),
        Expr::CmpEq(vec![u8::try_from(proto).unwrap_or(0)]),
    ]
}

fn then(mut exprs: Vec<Expr>, more: impl IntoIterator<Item = Expr>) -> Vec<Expr> {
    exprs.extend(more);
    exprs
}

/// One base chain on the output hook.
struct Chain {
    name: &'static str,
    /// `nat` or `filter`.
    kind: &'static str,
    priority: i32,
    /// The policy: accept (`true`) or drop.
    accept: bool,
    rules: Vec<Vec<Expr>>,
}

/// The two chains of the ruleset.
fn chains(spec: CaptureSpec) -> [Chain; 2] {
    let tcp_port = spec.tcp_port.to_be_bytes().to_vec();
    let dns_port = spec.dns_port.to_be_bytes().to_vec();
    let divert = vec![
        then(ipv4_loopback(), [Expr::Verdict(Verdict::Return)]),
        then(ipv6_loopback(), [Expr::Verdict(Verdict::Return)]),
        then(
            l4proto(libc::IPPROTO_TCP),
            [Expr::Value(tcp_port), Expr::Redirect],
        ),
        then(
            l4proto(libc::IPPROTO_UDP),
            [
                Expr::Payload {
                    base: BASE_TRANSPORT,
                    offset: 2,
                    len: 2,
                },
                Expr::CmpEq(53u16.to_be_bytes().to_vec()),
                Expr::Value(dns_port),
                Expr::Redirect,
            ],
        ),
    ];
    let confine = vec![
        then(ipv4_loopback(), [Expr::Verdict(Verdict::Accept)]),
        then(ipv6_loopback(), [Expr::Verdict(Verdict::Accept)]),
        // NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH
        then(
            l4proto(libc::IPPROTO_UDP),
            [Expr::Reject { kind: 2, code: 1 }],
        ),
        // NFT_REJECT_TCP_RST
        then(
            l4proto(libc::IPPROTO_TCP),
            [Expr::Reject { kind: 1, code: 0 }],
        ),
    ];
    [
        Chain {
            name: "divert",
            kind: "nat",
            priority: -100,
            accept: true,
            rules: divert,
        },
        Chain {
            name: "confine",
            kind: "filter",
            priority: 0,
            accept: false,
            rules: confine,
        },
    ]
}

/// Netlink attributes being written, with nesting.
#[derive(Debug, Default)]
struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    fn bytes(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = 4 + payload.len();
        self.buf
            .extend_from_slice(&u16::try_from(len).unwrap_or(0).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    fn str(&mut self, kind: u16, value: &str) -> &mut Self {
        let mut payload = value.as_bytes().to_vec();
        payload.push(0);
        self.bytes(kind, &payload)
    }

    fn be32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    fn nested(&mut self, kind: u16, fill: impl FnOnce(&mut Attrs)) -> &mut Self {
        let mut inner = Attrs::default();
        fill(&mut inner);
        self.bytes(kind | NLA_F_NESTED, &inner.buf)
    }

    fn pad(&mut self) {
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
    }
}

impl Expr {
    /// The kernel's name of the expression type.
    fn name(&self) -> &'static str {
        match self {
            Expr::Meta(_) => "meta",
            Expr::CmpEq(_) => "cmp",
            Expr::Payload { .. } => "payload",
            Expr::Value(_) | Expr::Verdict(_) => "immediate",
            Expr::Redirect => "redir",
            Expr::Reject { .. } => "reject",
        }
    }

    /// The expression's `NFTA_EXPR_DATA` attributes.
    fn data(&self, a: &mut Attrs) {
        match self {
            // NFTA_META_DREG, NFTA_META_KEY
            Expr::Meta(key) => {
                a.be32(1, REG_1).be32(2, *key);
            }
            // NFTA_CMP_SREG, NFTA_CMP_OP (NFT_CMP_EQ), NFTA_CMP_DATA
            Expr::CmpEq(data) => {
                a.be32(1, REG_1).be32(2, 0).nested(3, |d| {
                    d.bytes(NFTA_DATA_VALUE, data);
                });
            }
            // NFTA_PAYLOAD_DREG, _BASE, _OFFSET, _LEN
            Expr::Payload { base, offset, len } => {
                a.be32(1, REG_1)
                    .be32(2, *base)
                    .be32(3, *offset)
                    .be32(4, *len);
            }
            // NFTA_IMMEDIATE_DREG, NFTA_IMMEDIATE_DATA
            Expr::Value(data) => {
                a.be32(1, REG_1).nested(2, |d| {
                    d.bytes(NFTA_DATA_VALUE, data);
                });
            }
            Expr::Verdict(verdict) => {
                a.be32(1, REG_VERDICT).nested(2, |d| {
                    d.nested(NFTA_DATA_VERDICT, |v| {
                        v.be32(NFTA_VERDICT_CODE, verdict.code());
                    });
                });
            }
            // NFTA_REDIR_REG_PROTO_MIN, NFTA_REDIR_FLAGS
            Expr::Redirect => {
                a.be32(1, REG_1).be32(3, 2);
            }
            // NFTA_REJECT_TYPE, NFTA_REJECT_ICMP_CODE
            Expr::Reject { kind, code } => {
                a.be32(1, *kind).bytes(2, &[*code]);
            }
        }
    }

    /// Appends the expression as one element of a rule's expression list.
    fn write(&self, list: &mut Attrs) {
        list.nested(NFTA_LIST_ELEM, |elem| {
            elem.str(NFTA_EXPR_NAME, self.name())
                .nested(NFTA_EXPR_DATA, |a| self.data(a));
        });
    }
}

/// A batch of nfnetlink messages.
#[derive(Debug, Default)]
struct Batch {
    buf: Vec<u8>,
    seq: u32,
    /// Messages that asked for an acknowledgement.
    acks: usize,
}

impl Batch {
    fn message(&mut self, kind: u16, flags: u16, family: u8, res_id: u16, attrs: &Attrs) {
        self.seq += 1;
        if flags & NLM_F_ACK != 0 {
            self.acks += 1;
        }
        let len = 16 + 4 + attrs.buf.len();
        self.buf
            .extend_from_slice(&u32::try_from(len).unwrap_or(0).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        // nfgenmsg: family, version (NFNETLINK_V0), resource id (big-endian)
        self.buf.push(family);
        self.buf.push(0);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        self.buf.extend_from_slice(&attrs.buf);
    }

    fn nft(&mut self, msg: u16, flags: u16, attrs: &Attrs) {
        let kind = (SUBSYS_NFTABLES << 8) | msg;
        self.message(
            kind,
            NLM_F_REQUEST | NLM_F_ACK | flags,
            FAMILY_INET,
            0,
            attrs,
        );
    }
}

/// The whole ruleset as one transaction.
fn ruleset_batch(spec: CaptureSpec) -> Batch {
    let mut batch = Batch::default();
    let none = Attrs::default();
    batch.message(
        NFNL_MSG_BATCH_BEGIN,
        NLM_F_REQUEST,
        0,
        SUBSYS_NFTABLES,
        &none,
    );

    let mut table = Attrs::default();
    table.str(NFTA_TABLE_NAME, TABLE).be32(NFTA_TABLE_FLAGS, 0);
    batch.nft(NFT_MSG_NEWTABLE, NLM_F_CREATE, &table);

    for Chain {
        name,
        kind,
        priority,
        accept,
        rules,
    } in chains(spec)
    {
        let mut chain = Attrs::default();
        chain
            .str(NFTA_CHAIN_TABLE, TABLE)
            .str(NFTA_CHAIN_NAME, name)
            .nested(NFTA_CHAIN_HOOK, |h| {
                h.be32(NFTA_HOOK_HOOKNUM, HOOK_OUTPUT)
                    .be32(NFTA_HOOK_PRIORITY, priority as u32);
            })
            .be32(NFTA_CHAIN_POLICY, u32::from(accept))
            .str(NFTA_CHAIN_TYPE, kind);
        batch.nft(NFT_MSG_NEWCHAIN, NLM_F_CREATE, &chain);
        for exprs in rules {
            let mut rule = Attrs::default();
            rule.str(NFTA_RULE_TABLE, TABLE)
                .str(NFTA_RULE_CHAIN, name)
                .nested(NFTA_RULE_EXPRESSIONS, |list| {
                    for expr in &exprs {
                        expr.write(list);
                    }
                });
            batch.nft(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &rule);
        }
    }
    batch.message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, SUBSYS_NFTABLES, &none);
    batch
}

/// Installs the capture ruleset in the current network namespace (needs
/// CAP_NET_ADMIN over it). All or nothing: the kernel applies a batch atomically.
pub(crate) fn install(spec: CaptureSpec) -> io::Result<()> {
    let sock = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(rustix::net::Protocol::from_raw(
            rustix::net::RawProtocol::new(NETLINK_NETFILTER.unsigned_abs())
                .ok_or_else(|| io::Error::other("netlink protocol"))?,
        )),
    )?;
    let batch = ruleset_batch(spec);
    rustix::net::sendto(
        &sock,
        &batch.buf,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    // The kernel processes a batch while `sendto` runs: every answer is queued now.
    let mut acked = 0;
    let mut reply = vec![0u8; 16 * 1024];
    while acked < batch.acks {
        let (len, _) = match rustix::net::recv(&sock, &mut reply[..], RecvFlags::DONTWAIT) {
            Ok(got) => got,
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => return Err(e.into()),
        };
        acked += count_acks(&reply[..len])?;
    }
    if acked == batch.acks {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nf_tables acknowledged {acked} of {} messages",
            batch.acks
        )))
    }
}

/// Counts the successful acknowledgements in one datagram; the first error fails.
fn count_acks(mut data: &[u8]) -> io::Result<usize> {
    let mut acks = 0;
    while data.len() >= 16 {
        let word =
            |at: usize| u32::from_ne_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        let len = usize::try_from(word(0)).unwrap_or(0);
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        if len < 16 || len > data.len() {
            return Err(io::Error::other("malformed nfnetlink reply"));
        }
        if kind == NLMSG_ERROR && len >= 20 {
            let errno = word(16) as i32;
            if errno != 0 {
                return Err(io::Error::from_raw_os_error(-errno));
            }
            acks += 1;
        }
        data = &data[len.next_multiple_of(4).min(data.len())..];
    }
    Ok(acks)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    use super::*;

    /// `nft list ruleset` in a fresh user and network namespace after `setup` ran in
    /// the child (as root of that namespace). Test-only `unsafe`: `pre_exec`.
    #[allow(unsafe_code)]
    fn listed_after(setup: impl Fn() -> io::Result<()> + Send + Sync + 'static) -> String {
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        let mut cmd = Command::new("nft");
        cmd.args(["list", "ruleset"]);
        // SAFETY: between fork and exec the child allocates (format!, fs::write, the
        // netlink batch), which is only sound in a process with no other thread that
        // could hold the allocator's lock: this test relies on nextest running each test
        // in its own process, whose only thread is the test's.
        unsafe {
            cmd.pre_exec(move || {
                rustix::thread::unshare_unsafe(
                    rustix::thread::UnshareFlags::NEWUSER | rustix::thread::UnshareFlags::NEWNET,
                )?;
                std::fs::write("/proc/self/setgroups", "deny")?;
                std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))?;
                std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))?;
                setup()
            });
        }
        let out = cmd
            .output()
            .expect("nft runs (scripts/test installs nftables)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The bytecode written here is the ruleset `nft -f` makes of the text form.
    #[test]
    fn the_native_ruleset_is_the_text_ruleset() {
        let spec = CaptureSpec {
            tcp_port: 4129,
            dns_port: 5353,
        };
        let native = listed_after(move || install(spec));
        let text = super::super::rules::nft_ruleset(spec);
        let from_text = listed_after(move || {
            let mut nft = Command::new("nft")
                .args(["-f", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()?;
            std::io::Write::write_all(&mut nft.stdin.take().expect("stdin"), text.as_bytes())?;
            match nft.wait()?.success() {
                true => Ok(()),
                false => Err(io::Error::other("nft -f failed")),
            }
        });
        assert!(native.contains("redirect to :4129"), "{native}");
        assert_eq!(native, from_text);
    }

    #[test]
    fn every_message_is_aligned_and_counted() {
        let batch = ruleset_batch(CaptureSpec::DEFAULT);
        // table + 2 chains + 8 rules ask for an acknowledgement; begin/end do not.
        assert_eq!(batch.acks, 11);
        let mut at = 0;
        let mut messages = 0;
        while at < batch.buf.len() {
            let len = u32::from_ne_bytes(batch.buf[at..at + 4].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0, "message {messages} is padded");
            at += len;
            messages += 1;
        }
        assert_eq!(at, batch.buf.len());
        assert_eq!(messages, 13);
    }

    #[test]
    fn errors_and_acks_are_read() {
        let mut ack = vec![0u8; 36];
        ack[0..4].copy_from_slice(&36u32.to_ne_bytes());
        ack[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        let two = [ack.clone(), ack.clone()].concat();
        assert_eq!(count_acks(&two).unwrap(), 2);
        ack[16..20].copy_from_slice(&(-libc::ENOENT).to_ne_bytes());
        assert_eq!(
            count_acks(&ack).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
        assert!(count_acks(&[1u8; 20]).is_err());
    }
}
