//! The inference router of one sandbox, as the supervisor wires it: built on the user's
//! providers (the configuration directory, `$XDG_CONFIG_HOME/cordon` else
//! `~/.config/cordon`, read from this process's environment), handed to the egress
//! proxy for `inference.local`, and its route kept in step with the policy: set from
//! generation 1, then recomputed on every applied reload (file watcher and control API
//! alike, since both go through the policy handle). A route that cannot be built (an
//! unknown provider) leaves the sandbox without one — requests get 503 — and says why
//! on stderr.

use cordon_audit::AuditSink;
use cordon_egress::PolicyHandle;
use cordon_inference::{
    InferenceRouter, LazyTls, ProviderRegistry, RouterConfig, client_tls, current_route,
};
use cordon_secrets::ConfigDir;

/// Builds the router of sandbox `name` and starts following `policy`. `tls` is the
/// verified client configuration to reach providers with (the proxy's upstream one,
/// when TLS inspection is set up); without it the router loads the system roots itself.
/// Must run inside a tokio runtime.
pub(crate) fn router(
    name: &str,
    audit: &AuditSink,
    policy: &PolicyHandle,
    tls: Option<LazyTls>,
) -> Option<InferenceRouter> {
    let tls = match tls {
        Some(tls) => tls,
        None => match client_tls(None) {
            Ok(tls) => LazyTls::ready(tls),
            Err(err) => {
                eprintln!("cordon: inference.local disabled: {err}");
                return None;
            }
        },
    };
    let router = InferenceRouter::new(RouterConfig {
        sandbox: name.to_owned(),
        audit: Some(audit.clone()),
        tls,
    });
    let registry = ConfigDir::from_env().ok().map(ProviderRegistry::new);
    apply(&router, policy, registry.as_ref(), false);
    let mut changes = policy.subscribe();
    let (follower, policy) = (router.clone(), policy.clone());
    tokio::spawn(async move {
        while changes.changed().await.is_ok() {
            let (router, policy, registry) = (follower.clone(), policy.clone(), registry.clone());
            // Reading the provider files is blocking I/O.
            let _ = tokio::task::spawn_blocking(move || {
                apply(&router, &policy, registry.as_ref(), true);
            })
            .await;
        }
    });
    Some(router)
}

/// Sets the route for the generation in force.
fn apply(
    router: &InferenceRouter,
    policy: &PolicyHandle,
    registry: Option<&ProviderRegistry>,
    reload: bool,
) {
    let generation = policy.current();
    let wanted = generation.compiled.policy().inference.as_ref();
    let route = match registry {
        Some(registry) => current_route(wanted, registry),
        None => Ok(None),
    };
    match route {
        Ok(route) => router.set_route(route.map(|r| r.with_generation(generation.number))),
        Err(err) if wanted.is_some() => {
            router.set_unrouted(err.to_string());
            let when = if reload {
                "after the reload"
            } else {
                "at start"
            };
            eprintln!("cordon: inference.local has no route {when}: {err}");
        }
        // A user default that cannot be read (e.g. a HOME the sandbox user cannot
        // read) when the policy asked for nothing is not an error.
        Err(_) => router.set_route(None),
    }
}
