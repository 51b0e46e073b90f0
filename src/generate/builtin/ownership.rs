//! Which of the industry's systems each requested service runs on, for a whole scenario. Every alert of a
//! service names one of its systems (component, sourcetype, host prefix, `system` detail), so a demo never shows
//! a "User Authentication" alert about the ledger. Names are matched by shared words and a few synonym groups;
//! ties are broken by the scenario's seeded generator.

use fake::rand::rngs::ChaCha8Rng;
use fake::rand::RngExt;
use std::cmp::Reverse;

/// Systems a service normally gets; more only when the requested alert count needs them for distinct titles.
const SYSTEMS_PER_SERVICE: usize = 2;

/// Words that say nothing about what a system does.
const FILLER_WORDS: &[&str] = &["service", "services", "system", "systems", "platform", "engine", "the", "and", "of"];

/// Words that point to the same kind of system.
const SYNONYM_GROUPS: &[&[&str]] = &[
    &[
        "user",
        "users",
        "auth",
        "authentication",
        "login",
        "identity",
        "sso",
        "sign",
        "signon",
        "iam",
        "account",
        "player",
        "subscriber",
        "patient",
        "passenger",
        "customer",
        "entitlements",
    ],
    &[
        "payment",
        "payments",
        "pay",
        "card",
        "checkout",
        "cart",
        "authorization",
        "billing",
        "charging",
        "ledger",
        "settlement",
        "transfer",
        "wire",
        "ach",
        "payout",
        "store",
        "claims",
        "order",
        "orders",
        "transaction",
    ],
    &["api", "apis", "nodes", "node", "gateway", "portal", "mobile", "app", "edge", "web", "frontend", "backend"],
    &[
        "database",
        "db",
        "data",
        "storage",
        "archive",
        "record",
        "records",
        "inventory",
        "catalog",
        "vault",
        "imaging",
        "content",
        "ledger",
    ],
    &["search", "discovery", "catalog", "recommendation", "recommendations"],
];

/// The systems behind one requested service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSystems {
    pub service: String,
    pub systems: Vec<&'static str>,
}

/// Gives every service its systems: the owner of `faulty_system` (the service that suits it best) gets it first,
/// then, round by round, the best-suited free (service, system) pairs are matched: one system each, a second one
/// only when the names suit each other, and more only while fewer than `systems_needed` systems are in use.
/// Services outnumbering systems share them.
pub fn assign_systems(
    services: &[String],
    systems: &'static [&'static str],
    faulty_system: &'static str,
    systems_needed: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<ServiceSystems> {
    let mut owned: Vec<ServiceSystems> =
        services.iter().map(|service| ServiceSystems { service: service.clone(), systems: Vec::new() }).collect();
    // Seeded tie-breaks, drawn once so the assignment does not depend on iteration order.
    let tie_breaks: Vec<u32> = systems.iter().map(|_| rng.random_range(0..1_000)).collect();
    let suitability =
        |service: &str, system_index: usize| (affinity(service, systems[system_index]), tie_breaks[system_index]);

    let faulty_index = systems.iter().position(|system| *system == faulty_system).unwrap_or(0);
    let owner = (0..owned.len())
        .max_by_key(|index| (affinity(&owned[*index].service, faulty_system), rng.random_range(0..1_000u32)))
        .expect("service names are defaulted");
    owned[owner].systems.push(systems[faulty_index]);
    let mut free: Vec<usize> = (0..systems.len()).filter(|index| *index != faulty_index).collect();

    let target = SYSTEMS_PER_SERVICE.max(systems_needed.div_ceil(owned.len().max(1)));
    for round in 1..=target {
        let mut waiting: Vec<usize> = (0..owned.len()).filter(|index| owned[*index].systems.len() < round).collect();
        while !waiting.is_empty() {
            if free.is_empty() {
                // More services than systems: share the best-suited system a service does not have yet.
                for service_index in waiting.drain(..) {
                    let entry = &mut owned[service_index];
                    let pick = (0..systems.len())
                        .filter(|index| !entry.systems.contains(&systems[*index]))
                        .max_by_key(|index| suitability(&entry.service, *index));
                    if let Some(index) = pick {
                        entry.systems.push(systems[index]);
                    }
                }
                break;
            }
            // Past the first system, a service only takes a system its name suits, unless the alert count needs it.
            let in_use: usize = owned.iter().map(|entry| entry.systems.len()).sum();
            let picky = round > 1 && in_use >= systems_needed;
            // The best-suited (service, free system) pair goes first, so a weak match never takes a strong one's
            // system; on equal suitability the earlier service chooses.
            let best = (0..waiting.len())
                .flat_map(|w| (0..free.len()).map(move |f| (w, f)))
                .filter(|(w, f)| !picky || affinity(&owned[waiting[*w]].service, systems[free[*f]]) > 0)
                .max_by_key(|(w, f)| (suitability(&owned[waiting[*w]].service, free[*f]), Reverse(*w)));
            let Some((waiting_position, free_position)) = best else {
                break;
            };
            let service_index = waiting.remove(waiting_position);
            let system_index = free.remove(free_position);
            owned[service_index].systems.push(systems[system_index]);
        }
        // Enough systems are in use once every service has one and the alert count fits.
        let in_use: usize = owned.iter().map(|entry| entry.systems.len()).sum();
        if round >= SYSTEMS_PER_SERVICE.min(systems.len()) && in_use >= systems_needed {
            break;
        }
    }
    owned
}

/// Whether `name` reads like sign-in or identity (only such systems and services report login success rates).
pub fn is_identity(name: &str) -> bool {
    meaningful_words(name).iter().any(|word| SYNONYM_GROUPS[0].contains(&word.as_str()))
}

/// How well a system's name suits a service's name: shared words weigh most, shared synonym groups less.
fn affinity(service: &str, system: &str) -> u32 {
    let service_words = meaningful_words(service);
    let system_words = meaningful_words(system);
    let shared_words = service_words.iter().filter(|word| system_words.contains(word)).count() as u32;
    let shared_groups = SYNONYM_GROUPS
        .iter()
        .filter(|group| {
            service_words.iter().any(|word| group.contains(&word.as_str()))
                && system_words.iter().any(|word| group.contains(&word.as_str()))
        })
        .count() as u32;
    shared_words * 3 + shared_groups
}

fn meaningful_words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .filter(|word| !FILLER_WORDS.contains(&word.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fake::rand::SeedableRng;

    const BANKING: &[&str] = &[
        "Core Banking Ledger",
        "Online Banking Portal",
        "Card Authorization Gateway",
        "Wire Transfer Hub",
        "Fraud Scoring Engine",
        "Mobile Banking API",
        "Customer Identity Service",
        "ACH Batch Processor",
    ];

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn services_get_the_systems_their_names_suggest_and_never_share_when_there_are_enough() {
        let services = names(&["User Authentication", "API Nodes", "Payment Processing"]);
        for seed in 0..50 {
            let owned =
                assign_systems(&services, BANKING, "Core Banking Ledger", 1, &mut ChaCha8Rng::seed_from_u64(seed));
            assert!(owned.iter().all(|entry| (1..=SYSTEMS_PER_SERVICE).contains(&entry.systems.len())), "{owned:?}");
            assert_eq!(owned[0].systems, ["Customer Identity Service"], "no name-suited second system");
            let mut all: Vec<&str> = owned.iter().flat_map(|entry| entry.systems.clone()).collect();
            let count = all.len();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), count, "no system serves two services: {owned:?}");
            assert!(owned.iter().any(|entry| entry.systems.contains(&"Core Banking Ledger")));
            assert!(owned[0].systems.contains(&"Customer Identity Service"), "{owned:?}");
            assert!(!owned[0].systems.contains(&"Card Authorization Gateway"), "{owned:?}");
            assert!(owned[1].systems.contains(&"Mobile Banking API"), "{owned:?}");
            let payments =
                ["Core Banking Ledger", "Card Authorization Gateway", "Wire Transfer Hub", "ACH Batch Processor"];
            assert!(owned[2].systems.iter().all(|system| payments.contains(system)), "{owned:?}");
        }
    }

    #[test]
    fn one_service_gets_more_systems_only_when_the_alert_count_needs_them() {
        let services = names(&["Checkout"]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let owned = assign_systems(&services, BANKING, "Wire Transfer Hub", 1, &mut rng);
        assert_eq!(owned[0].systems, ["Wire Transfer Hub", "Card Authorization Gateway"]);
        assert_eq!(assign_systems(&services, BANKING, "Wire Transfer Hub", 5, &mut rng)[0].systems.len(), 5);
    }

    #[test]
    fn more_services_than_systems_share_them_and_all_get_one() {
        let services: Vec<String> = (0..10).map(|index| format!("Team {index}")).collect();
        let owned = assign_systems(&services, &BANKING[..4], "Wire Transfer Hub", 4, &mut ChaCha8Rng::seed_from_u64(3));
        assert!(owned.iter().all(|entry| !entry.systems.is_empty()), "{owned:?}");
    }
}
