//! The APIs: one JSON document per API in the store (`apigateway/apis/<id>`), and their
//! compiled, in-memory form (parsed route keys) that the data plane reads without touching
//! the store. Every change is one store transaction that touches [`TOPIC`], then the compiled
//! copy is replaced; other nodes sharing the store reload every API on the change notice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use nuvem_store::cluster::touch;
use nuvem_store::{Direction, KeyRange, Store};

use crate::error::Error;
use crate::model::{Api, Route};
use crate::routes::RouteKey;

const PREFIX: &str = "apigateway/apis/";
/// The change-notice topic of the stored APIs.
pub const TOPIC: &str = "gateway/apis";

/// An API ready to serve: the definition plus parsed route keys.
#[derive(Debug)]
pub struct Compiled {
    pub api: Api,
    pub routes: Vec<(RouteKey, Route)>,
}

impl Compiled {
    fn new(api: Api) -> Self {
        let routes = api
            .routes
            .iter()
            .filter_map(|r| RouteKey::parse(&r.route_key).ok().map(|k| (k, r.clone())))
            .collect();
        Self { api, routes }
    }
}

pub struct Registry {
    store: Store,
    apis: RwLock<HashMap<String, Arc<Compiled>>>,
    /// Serializes this node's changes and reloads, so that a reload that read the store
    /// before a change committed never replaces the compiled copy of that change.
    writes: Mutex<()>,
}

fn load(store: &Store) -> Result<HashMap<String, Arc<Compiled>>, Error> {
    let mut apis = HashMap::new();
    let snap = store.snapshot();
    for item in snap.scan(KeyRange::prefix(PREFIX.as_bytes()), Direction::Forward) {
        let (_, value) = item?;
        let api: Api = serde_json::from_slice(&value).map_err(|e| Error::Corrupt(e.to_string()))?;
        apis.insert(api.api_id.clone(), Arc::new(Compiled::new(api)));
    }
    Ok(apis)
}

impl Registry {
    /// Loads every stored API.
    pub fn open(store: Store) -> Result<Self, Error> {
        Ok(Self {
            apis: RwLock::new(load(&store)?),
            store,
            writes: Mutex::new(()),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn writes(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads every stored API again (another node changed one).
    pub fn reload(&self) -> Result<(), Error> {
        let _w = self.writes();
        let apis = load(&self.store)?;
        if let Ok(mut slot) = self.apis.write() {
            *slot = apis;
        }
        Ok(())
    }

    /// An API by id, or by name (the manifest and the edge name APIs).
    pub fn get(&self, id_or_name: &str) -> Option<Arc<Compiled>> {
        let apis = self.apis.read().ok()?;
        apis.get(id_or_name)
            .or_else(|| apis.values().find(|c| c.api.name == id_or_name))
            .cloned()
    }

    /// An API by id only (the management API).
    pub fn get_by_id(&self, id: &str) -> Option<Arc<Compiled>> {
        self.apis.read().ok()?.get(id).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Compiled>> {
        let mut all: Vec<_> = self
            .apis
            .read()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default();
        all.sort_by(|a, b| a.api.api_id.cmp(&b.api.api_id));
        all
    }

    /// Stores a new API; `Conflict` if the id is taken.
    pub fn insert(&self, api: Api) -> Result<(), Error> {
        let key = format!("{PREFIX}{}", api.api_id);
        let bytes = serde_json::to_vec(&api).map_err(|e| Error::Corrupt(e.to_string()))?;
        let _w = self.writes();
        self.store.transact(|tx| {
            if tx.get(key.as_bytes())?.is_some() {
                return Err(Error::Conflict(format!(
                    "An API with id {} already exists",
                    api.api_id
                )));
            }
            tx.put(key.as_bytes(), &bytes);
            touch(tx, TOPIC)?;
            Ok(())
        })?;
        self.publish(api);
        Ok(())
    }

    /// Stores `api` whether or not its id exists, in one transaction: whoever serves it
    /// sees the old definition or the new one, never none. Returns whether it existed.
    pub fn put(&self, api: Api) -> Result<bool, Error> {
        let key = format!("{PREFIX}{}", api.api_id);
        let bytes = serde_json::to_vec(&api).map_err(|e| Error::Corrupt(e.to_string()))?;
        let _w = self.writes();
        let existed = self.store.transact(|tx| {
            let existed = tx.get(key.as_bytes())?.is_some();
            tx.put(key.as_bytes(), &bytes);
            touch(tx, TOPIC)?;
            Ok::<_, Error>(existed)
        })?;
        self.publish(api);
        Ok(existed)
    }

    /// Changes one API in one transaction; `change` sees the stored definition.
    pub fn update<T>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Api) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let key = format!("{PREFIX}{id}");
        let _w = self.writes();
        let (api, out) = self.store.transact(|tx| {
            let Some(bytes) = tx.get(key.as_bytes())? else {
                return Err(not_found(id));
            };
            let mut api: Api =
                serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(e.to_string()))?;
            let out = change(&mut api)?;
            let bytes = serde_json::to_vec(&api).map_err(|e| Error::Corrupt(e.to_string()))?;
            tx.put(key.as_bytes(), &bytes);
            touch(tx, TOPIC)?;
            Ok((api, out))
        })?;
        self.publish(api);
        Ok(out)
    }

    pub fn delete(&self, id: &str) -> Result<(), Error> {
        let key = format!("{PREFIX}{id}");
        let _w = self.writes();
        self.store.transact(|tx| {
            if tx.get(key.as_bytes())?.is_none() {
                return Err(not_found(id));
            }
            tx.delete(key.as_bytes());
            touch(tx, TOPIC)?;
            Ok(())
        })?;
        if let Ok(mut apis) = self.apis.write() {
            apis.remove(id);
        }
        Ok(())
    }

    fn publish(&self, api: Api) {
        if let Ok(mut apis) = self.apis.write() {
            apis.insert(api.api_id.clone(), Arc::new(Compiled::new(api)));
        }
    }
}

pub fn not_found(id: &str) -> Error {
    Error::NotFound(format!("Invalid API identifier specified {id}"))
}
