//! The inventory devenv keeps of what it applied, per cluster context and owner
//! (`.devenv/inventory/`), and the protocol that keeps it a superset of what is live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::inventory::{prune_set, Inventory, ObjectRef};
use super::owner::dns_label;

/// Why an inventory file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not a devenv inventory: {source}", path.display())]
    NotAnInventory {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} has inventory version {version} (this devenv reads {INVENTORY_VERSION})", path.display())]
    Version { path: PathBuf, version: u32 },
}

pub const INVENTORY_VERSION: u32 = 1;

/// What devenv has applied to one cluster context for one owner, per overlay
/// (`.devenv/inventory/CONTEXT-HASH.OWNER.json`).
///
/// The protocol, which keeps the store a superset of what is live:
/// 1. before applying an overlay, [`record_applying`](Self::record_applying) its new
///    inventory (and save): a failed apply leaves nothing untracked;
/// 2. after every overlay of the run is applied, [`prune_plan`](Self::prune_plan) with the
///    inventories rendered in this run gives what to delete; deleting overlay by overlay
///    would delete an object that moved from one overlay to the next;
/// 3. once deleted, [`commit`](Self::commit) (and save).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryStore {
    pub version: u32,
    pub context: String,
    pub owner: String,
    pub overlays: BTreeMap<String, Inventory>,
}

impl InventoryStore {
    pub fn new(context: &str, owner: &str) -> InventoryStore {
        InventoryStore {
            version: INVENTORY_VERSION,
            context: context.into(),
            owner: owner.into(),
            overlays: BTreeMap::new(),
        }
    }

    /// `STATE_DIR/inventory/CONTEXT-HASH.OWNER.json`: one file per cluster and owner, so a
    /// switch of context never prunes objects of another cluster. (Context names may hold
    /// any character, e.g. EKS ARNs: the name is made safe and a hash keeps it unique.)
    pub fn path(state_dir: &Path, context: &str, owner: &str) -> PathBuf {
        let hash = &blake3::hash(context.as_bytes()).to_hex()[..8];
        let safe = dns_label(context, 40);
        state_dir
            .join("inventory")
            .join(format!("{safe}-{hash}.{owner}.json"))
    }

    /// The store at `path`; `Ok(None)` when there is none (nothing applied, or lost: then
    /// [`label_selector`](super::label_selector) is the way to find the objects).
    pub fn load(path: &Path) -> Result<Option<InventoryStore>, InventoryError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(InventoryError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let store: InventoryStore =
            serde_json::from_slice(&bytes).map_err(|source| InventoryError::NotAnInventory {
                path: path.to_path_buf(),
                source,
            })?;
        if store.version != INVENTORY_VERSION {
            return Err(InventoryError::Version {
                path: path.to_path_buf(),
                version: store.version,
            });
        }
        Ok(Some(store))
    }

    /// Writes the store atomically (the parent folder is created).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::state::write_atomic(path, &text)
    }

    /// Everything recorded, all overlays together.
    pub fn all(&self) -> Inventory {
        let mut all = Inventory::default();
        for inv in self.overlays.values() {
            all.extend(inv);
        }
        all
    }

    /// Adds `new` to what overlay `name` may have live (before applying it).
    pub fn record_applying(&mut self, name: &str, new: &Inventory) {
        self.overlays
            .entry(name.to_string())
            .or_default()
            .extend(new);
    }

    /// What to delete once the overlays of `rendered` (name → its inventory this run) are
    /// applied. Overlays of `config_overlays` not rendered this run (`devenv apply NAME`)
    /// keep what they have; overlays no longer in the config lose everything.
    pub fn prune_plan(
        &self,
        rendered: &BTreeMap<String, Inventory>,
        config_overlays: &[String],
    ) -> Vec<ObjectRef> {
        let mut keep = Inventory::default();
        for inv in rendered.values() {
            keep.extend(inv);
        }
        for name in config_overlays
            .iter()
            .filter(|n| !rendered.contains_key(*n))
        {
            if let Some(inv) = self.overlays.get(name) {
                keep.extend(inv);
            }
        }
        prune_set(&self.all(), &keep)
    }

    /// After pruning: each rendered overlay has exactly its new objects, overlays gone from
    /// the config are forgotten.
    pub fn commit(&mut self, rendered: &BTreeMap<String, Inventory>, config_overlays: &[String]) {
        self.overlays
            .retain(|name, _| config_overlays.contains(name));
        for (name, inv) in rendered {
            self.overlays.insert(name.clone(), inv.clone());
        }
    }
}
