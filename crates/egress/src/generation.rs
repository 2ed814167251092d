//! Policy generations: the compiled policy every decision reads, swapped atomically on
//! reload.
//!
//! Each decision loads the current generation once and uses only it, so a decision
//! never mixes two policies. A swap is one pointer store (`ArcSwap`), visible to the
//! next connection at once; open tunnels learn about it through a `watch` channel and
//! re-check their destination (see `relay`).

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use cordon_audit::{AuditSink, ConfigEvent, ConfigOutcome};
use cordon_policy::{CompiledPolicy, Policy};
use tokio::sync::watch;

use crate::error::ReloadError;

/// One compiled policy and its sequence number (1 for the policy given at start).
#[derive(Debug)]
pub struct Generation {
    /// Increases by one on every applied reload; written to every audit line.
    pub number: u64,
    /// The engine decisions are made with.
    pub compiled: CompiledPolicy,
}

/// The shared, reloadable policy of one sandbox. Cloning gives another handle to the
/// same generations (the proxy, the file watcher and the control API each hold one).
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    current: Arc<ArcSwap<Generation>>,
    /// Tells open tunnels a new generation exists (value: its number).
    changed: Arc<watch::Sender<u64>>,
    /// Serialises reloads so generation numbers are assigned in swap order.
    reload_lock: Arc<Mutex<()>>,
}

impl PolicyHandle {
    /// Starts at generation 1 with the policy the sandbox was started with.
    pub fn new(compiled: CompiledPolicy) -> PolicyHandle {
        let (changed, _) = watch::channel(1);
        PolicyHandle {
            current: Arc::new(ArcSwap::from_pointee(Generation {
                number: 1,
                compiled,
            })),
            changed: Arc::new(changed),
            reload_lock: Arc::new(Mutex::new(())),
        }
    }

    /// The generation in force now. Hold it for the whole of one decision.
    pub fn current(&self) -> Arc<Generation> {
        self.current.load_full()
    }

    /// The number of the generation in force now.
    pub fn number(&self) -> u64 {
        self.current.load().number
    }

    /// Installs an already validated policy as the next generation and returns its
    /// number. New connections see it immediately; open tunnels re-check. This does
    /// not look at static sections: callers with a parsed [`Policy`] use [`apply`].
    ///
    /// [`apply`]: PolicyHandle::apply
    pub fn replace(&self, compiled: CompiledPolicy) -> u64 {
        let _serial = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let number = self.current.load().number + 1;
        self.current
            .store(Arc::new(Generation { number, compiled }));
        self.changed.send_replace(number);
        number
    }

    /// The one reload path (file watcher, control API, SIGHUP): refuses changes to
    /// static sections, compiles, swaps, and writes a config audit line either way.
    /// On error the previous generation stays in force.
    pub fn apply(
        &self,
        policy: &Policy,
        source: &str,
        sandbox: &str,
        audit: &AuditSink,
    ) -> Result<u64, ReloadError> {
        let result = self.try_apply(policy);
        audit.emit(cordon_audit::AuditEvent::Config(match &result {
            Ok(number) => ConfigEvent::new(
                sandbox,
                *number,
                ConfigOutcome::Applied,
                source,
                "policy reloaded: network policy in force for new connections; open tunnels re-checked",
            ),
            Err(err) => ConfigEvent::new(
                sandbox,
                self.number(),
                ConfigOutcome::Rejected,
                source,
                &err.to_string(),
            ),
        }));
        result
    }

    /// Reports a policy that failed before it could be applied (it did not parse or
    /// validate) the same way `apply` reports its own refusals.
    pub fn reject(
        &self,
        message: &str,
        source: &str,
        sandbox: &str,
        audit: &AuditSink,
    ) -> ReloadError {
        let err = ReloadError::Invalid(message.to_owned());
        audit.emit(cordon_audit::AuditEvent::Config(ConfigEvent::new(
            sandbox,
            self.number(),
            ConfigOutcome::Rejected,
            source,
            &err.to_string(),
        )));
        err
    }

    fn try_apply(&self, policy: &Policy) -> Result<u64, ReloadError> {
        let changed = cordon_policy::static_changes(self.current().compiled.policy(), policy);
        if !changed.is_empty() {
            return Err(ReloadError::StaticSectionsChanged(changed));
        }
        let compiled =
            CompiledPolicy::compile(policy).map_err(|err| ReloadError::Invalid(err.to_string()))?;
        Ok(self.replace(compiled))
    }

    /// A receiver woken on every new generation (used by open tunnels).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
