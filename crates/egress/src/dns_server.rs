//! The policy DNS: the stub resolver the sandbox's `/etc/resolv.conf` names
//! (`nameserver 127.0.0.1`), served by the supervisor on a UDP socket created inside
//! the sandbox's network namespace. Transparent capture also redirects UDP to port 53
//! of any address here, so `dig @8.8.8.8` gets the same answers.
//!
//! It answers only names some policy entry could allow (`host_could_match`: any
//! port, any binary; the connection is decided in full later). A and AAAA answers
//! are synthetic addresses from the [`DnsMap`] pools that map back to the name; no
//! real address ever reaches the sandbox, and nothing is looked up upstream for a
//! query, so DNS cannot carry data out. Every other name gets `NXDOMAIN` and an audit
//! line (`inference.local` is answered when the sandbox has an inference router).
//! Other record types of an answerable name get an empty answer (`NOERROR`).
//! When the policy in force turns `network_settings.transparent` off, every query is
//! `REFUSED`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cordon_audit::{Action, NetworkEvent, Severity, Transport};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio::net::UdpSocket;

use crate::dns_map::{self, ANSWER_TTL, DnsMap, MapError};
use crate::generation::Generation;
use crate::server::Shared;

/// Largest query datagram read. At the limit the datagram is cut and, failing to
/// parse, ignored. DNS over UDP rarely exceeds 512 bytes for a query; 4 KiB covers
/// any EDNS payload a client may announce.
pub const MAX_QUERY_BYTES: usize = 4096;

/// Repeated refusals of one name within this window are audited once: a resolver
/// asks A and AAAA together and retries, which is one lookup to the person reading
/// the log. At the limit a new line is written.
pub const REFUSAL_AUDIT_WINDOW: Duration = Duration::from_secs(1);

/// Most names remembered for [`REFUSAL_AUDIT_WINDOW`]; past it the memory is cleared
/// (at worst a duplicate line), so a flood of distinct names cannot grow it.
const RECENT_REFUSALS: usize = 1024;

/// A name refused by the stub, for the audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub name: String,
    pub reason: String,
}

/// The stub's answer to one datagram: the bytes to send back (`None`: ignore the
/// datagram) and what to audit.
#[derive(Debug)]
pub(crate) struct Answered {
    pub reply: Option<Vec<u8>>,
    pub refused: Option<Refusal>,
}

/// Answers one query against `generation`. `ipv6`: IPv6 is captured, so AAAA
/// queries get synthetic IPv6 answers (otherwise an empty answer, so clients use
/// IPv4). `inference`: the sandbox has an inference router, so `inference.local` is
/// answered too (its connections go to the router, see `transparent.rs`).
pub(crate) fn answer(
    query: &[u8],
    generation: &Generation,
    map: &DnsMap,
    ipv6: bool,
    inference: bool,
    now: Instant,
) -> Answered {
    let Ok(request) = Message::from_vec(query) else {
        return Answered {
            reply: None,
            refused: None,
        };
    };
    if request.metadata.message_type != MessageType::Query {
        return Answered {
            reply: None,
            refused: None,
        };
    }
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.queries = request.queries.clone();
    if request.edns.is_some() {
        response.set_edns(Edns::new());
    }
    let mut refused = None;
    let code = match (request.metadata.op_code, request.queries.as_slice()) {
        (OpCode::Query, [query]) if query.query_class() == DNSClass::IN => {
            let name = normalise(&query.name().to_ascii());
            if !generation.compiled.policy().network_settings.transparent {
                ResponseCode::Refused
            } else if !(generation.compiled.host_could_match(&name)
                || inference && name == cordon_inference::INFERENCE_HOST)
            {
                refused = Some(Refusal {
                    reason: format!(
                        "policy DNS: no network_policies entry could allow {name}; answered NXDOMAIN"
                    ),
                    name,
                });
                ResponseCode::NXDomain
            } else {
                match map.assign(&name, generation.number, now) {
                    Ok(index) => {
                        let ttl = u32::try_from(ANSWER_TTL.as_secs()).unwrap_or(30);
                        let rdata = match query.query_type() {
                            RecordType::A => Some(RData::A(A(dns_map::v4_address(index)))),
                            RecordType::AAAA if ipv6 => {
                                Some(RData::AAAA(AAAA(dns_map::v6_address(index))))
                            }
                            _ => None,
                        };
                        if let Some(rdata) = rdata {
                            response.add_answer(Record::from_rdata(
                                query.name().clone(),
                                ttl,
                                rdata,
                            ));
                        }
                        ResponseCode::NoError
                    }
                    Err(MapError::Full) => {
                        refused = Some(Refusal {
                            reason: format!(
                                "policy DNS: {} names mapped (the limit); answered SERVFAIL for {name}",
                                dns_map::MAX_MAPPINGS
                            ),
                            name,
                        });
                        ResponseCode::ServFail
                    }
                }
            }
        }
        (OpCode::Query, [_]) => ResponseCode::Refused,
        (OpCode::Query, _) => ResponseCode::FormErr,
        _ => ResponseCode::NotImp,
    };
    response.metadata.response_code = code;
    Answered {
        reply: response.to_vec().ok(),
        refused,
    }
}

/// A queried name as the policy sees it: lower-case, without the root dot.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Serves the stub on `socket` until the proxy shuts down.
pub(crate) async fn serve(shared: Arc<Shared>, map: Arc<DnsMap>, socket: UdpSocket, ipv6: bool) {
    let mut shutdown = shared.shutdown.clone();
    let mut buf = vec![0u8; MAX_QUERY_BYTES];
    let mut recent: HashMap<String, Instant> = HashMap::new();
    loop {
        let (len, from) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                // ICMP errors from earlier replies surface here: nothing to do.
                Err(_) => continue,
            },
            () = crate::server::stopped(&mut shutdown) => return,
        };
        let generation = shared.policy.current();
        let now = Instant::now();
        let inference = shared.inference.is_some();
        let answered = answer(&buf[..len], &generation, &map, ipv6, inference, now);
        if let Some(refusal) = answered.refused {
            let repeated = recent
                .get(&refusal.name)
                .is_some_and(|at| now.duration_since(*at) < REFUSAL_AUDIT_WINDOW);
            if !repeated {
                if recent.len() >= RECENT_REFUSALS {
                    recent.clear();
                }
                recent.insert(refusal.name.clone(), now);
                audit(&shared, &generation, from, refusal);
            }
        }
        if let Some(reply) = answered.reply {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

fn audit(shared: &Shared, generation: &Generation, from: SocketAddr, refusal: Refusal) {
    let mut ev = NetworkEvent::new(
        &shared.sandbox,
        generation.number,
        Action::Deny,
        Transport::Dns,
        &refusal.name,
        53,
    )
    .with_reason(&refusal.reason);
    ev.src = Some(from);
    ev.transparent = true;
    ev.severity = Severity::Medium;
    shared.audit.emit(ev.into_event());
}

#[cfg(test)]
mod tests {
    use cordon_policy::CompiledPolicy;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    use super::*;

    fn generation(transparent: bool) -> Generation {
        let yaml = format!(
            "version: 1\nnetwork_settings:\n  transparent: {transparent}\nnetwork_policies:\n  e:\n    \
             endpoints: [{{host: api.test, port: 443}}, {{host: \"*.cdn.test\", port: 443}}]\n    \
             binaries: [{{path: \"/**\"}}]\n"
        );
        let loaded = cordon_policy::parse_str(&yaml, "test").unwrap();
        Generation {
            number: 1,
            compiled: CompiledPolicy::compile(&loaded.policy).unwrap(),
        }
    }

    fn ask(name: &str, kind: RecordType) -> Vec<u8> {
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        message.to_vec().unwrap()
    }

    fn reply(answered: &Answered) -> Message {
        Message::from_vec(answered.reply.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn allowed_names_get_synthetic_addresses_that_map_back() {
        let g = generation(true);
        let map = DnsMap::new();
        let now = Instant::now();
        let answered = answer(&ask("API.test.", RecordType::A), &g, &map, true, false, now);
        assert!(answered.refused.is_none());
        let msg = reply(&answered);
        assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
        let RData::A(A(ip)) = msg.answers[0].data else {
            panic!("{msg:?}")
        };
        assert_eq!(
            map.name_for(ip.into(), &g, now).as_deref(),
            Some("api.test")
        );
        let msg = reply(&answer(
            &ask("a.cdn.test", RecordType::AAAA),
            &g,
            &map,
            true,
            false,
            now,
        ));
        let RData::AAAA(AAAA(ip6)) = msg.answers[0].data else {
            panic!("{msg:?}")
        };
        assert_eq!(
            map.name_for(ip6.into(), &g, now).as_deref(),
            Some("a.cdn.test")
        );
    }

    #[test]
    fn inference_local_is_answered_only_with_a_router() {
        let g = generation(true);
        let map = DnsMap::new();
        let now = Instant::now();
        let without = answer(
            &ask("inference.local.", RecordType::A),
            &g,
            &map,
            true,
            false,
            now,
        );
        assert_eq!(
            reply(&without).metadata.response_code,
            ResponseCode::NXDomain
        );
        let with = answer(
            &ask("inference.local.", RecordType::A),
            &g,
            &map,
            true,
            true,
            now,
        );
        let msg = reply(&with);
        assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
        let RData::A(A(ip)) = msg.answers[0].data else {
            panic!("{msg:?}")
        };
        assert_eq!(
            map.name_for(ip.into(), &g, now).as_deref(),
            Some("inference.local")
        );
    }

    #[test]
    fn other_names_get_nxdomain_and_a_refusal() {
        let g = generation(true);
        let map = DnsMap::new();
        let answered = answer(
            &ask("secret-data.evil.test", RecordType::A),
            &g,
            &map,
            true,
            false,
            Instant::now(),
        );
        assert_eq!(
            reply(&answered).metadata.response_code,
            ResponseCode::NXDomain
        );
        assert!(reply(&answered).answers.is_empty());
        assert_eq!(answered.refused.unwrap().name, "secret-data.evil.test");
        assert!(map.is_empty());
    }

    #[test]
    fn other_types_and_uncaptured_ipv6_get_empty_answers() {
        let g = generation(true);
        let map = DnsMap::new();
        let now = Instant::now();
        for (kind, ipv6) in [(RecordType::AAAA, false), (RecordType::TXT, true)] {
            let answered = answer(&ask("api.test", kind), &g, &map, ipv6, false, now);
            let msg = reply(&answered);
            assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
            assert!(msg.answers.is_empty(), "{kind:?}");
            assert!(answered.refused.is_none());
        }
    }

    #[test]
    fn transparent_off_refuses_every_query_and_garbage_is_ignored() {
        let g = generation(false);
        let map = DnsMap::new();
        let answered = answer(
            &ask("api.test", RecordType::A),
            &g,
            &map,
            true,
            false,
            Instant::now(),
        );
        assert_eq!(
            reply(&answered).metadata.response_code,
            ResponseCode::Refused
        );
        let garbage = answer(b"\x01\x02", &g, &map, true, false, Instant::now());
        assert!(garbage.reply.is_none() && garbage.refused.is_none());
    }
}
