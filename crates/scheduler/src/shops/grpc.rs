//! gRPC `Shops`: request parsing (naming bad fields; every string is checked first, see
//! `shopsync_proto::limits`) and answers. Credentials go in, never out: answers carry
//! `has_access_token`, and `GetShopCredentials` only sealed values.

use super::repo::{PutLinks, StoredSecret};
use super::{Credentials, Shops};
use crate::error::ServiceError;
use secrecy::SecretString;
use shopsync_common::ValidationError;
use shopsync_common::shop::{CURSOR_VALUE_MAX, ErpKey, LinkKind, SyncResource, check_gid};
use shopsync_common::text::validate_text;
use shopsync_proto::CheckText;
use shopsync_proto::pb;
use shopsync_proto::pb::shops_server::Shops as ShopsApi;
use shopsync_proto::shops::{
    cursor_to_pb, link_from_pb, link_kind_from_pb, link_to_pb, resource_from_pb, shop_spec_from_pb,
    shop_to_pb,
};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Links in one call, at most.
const LINKS_MAX: usize = 1000;

pub struct ShopsService {
    shops: Arc<Shops>,
}

impl ShopsService {
    pub fn new(shops: Arc<Shops>) -> Self {
        Self { shops }
    }

    pub fn into_server(self) -> pb::shops_server::ShopsServer<Self> {
        pb::shops_server::ShopsServer::new(self)
    }
}

fn invalid(e: ValidationError) -> Status {
    Status::invalid_argument(e.to_string())
}

fn shop_name(name: &str, field: &str) -> Result<String, Status> {
    validate_text(field, name, 255).map_err(invalid)?;
    if name.trim().is_empty() {
        return Err(invalid(ValidationError::new(field, "required")));
    }
    Ok(name.trim().to_owned())
}

fn secret(v: &str, field: &str) -> Result<Option<SecretString>, Status> {
    validate_text(field, v, super::SECRET_MAX).map_err(invalid)?;
    Ok((!v.is_empty()).then(|| SecretString::from(v.to_owned())))
}

fn sealed_to_pb(s: StoredSecret) -> pb::SealedSecret {
    pb::SealedSecret { key_id: s.key_id, nonce: s.nonce, ciphertext: s.ciphertext }
}

fn kind(v: i32) -> Result<LinkKind, Status> {
    link_kind_from_pb(v, "kind").map_err(invalid)
}

fn too_many(n: usize, field: &str) -> Result<(), Status> {
    if n > LINKS_MAX {
        return Err(invalid(ValidationError::new(field, format!("at most {LINKS_MAX}"))));
    }
    Ok(())
}

fn erp_keys(keys: &[pb::ErpKey]) -> Result<Vec<ErpKey>, Status> {
    too_many(keys.len(), "erp_keys")?;
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            let f = format!("erp_keys[{i}]");
            validate_text(&format!("{f}.erp_id"), &k.erp_id, 64).map_err(invalid)?;
            validate_text(&format!("{f}.erp_variant"), &k.erp_variant, 64).map_err(invalid)?;
            Ok(ErpKey { erp_id: k.erp_id.clone(), erp_variant: k.erp_variant.clone() })
        })
        .collect()
}

fn shopify_ids(ids: &[String]) -> Result<Vec<String>, Status> {
    too_many(ids.len(), "shopify_ids")?;
    for (i, id) in ids.iter().enumerate() {
        check_gid(&format!("shopify_ids[{i}]"), id, None).map_err(invalid)?;
    }
    Ok(ids.to_vec())
}

fn cursor_key(k: &Option<pb::CursorKey>) -> Result<(String, SyncResource), Status> {
    let k = k.as_ref().ok_or_else(|| invalid(ValidationError::new("key", "required")))?;
    Ok((
        shop_name(&k.shop, "key.shop")?,
        resource_from_pb(k.resource, "key.resource").map_err(invalid)?,
    ))
}

fn cursor_value(v: &str, field: &str) -> Result<(), Status> {
    validate_text(field, v, CURSOR_VALUE_MAX).map_err(invalid)
}

#[tonic::async_trait]
impl ShopsApi for ShopsService {
    async fn create_shop(
        &self,
        req: Request<pb::CreateShopRequest>,
    ) -> Result<Response<pb::Shop>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let shop = r.shop.ok_or_else(|| invalid(ValidationError::new("shop", "required")))?;
        let name = shop_name(&shop.name, "shop.name")?;
        let spec = shop_spec_from_pb(&shop, "shop").map_err(invalid)?;
        let creds = Credentials {
            access_token: secret(&r.access_token, "access_token")?,
            webhook_secret: secret(&r.webhook_secret, "webhook_secret")?,
        };
        let request_id = match r.request_id.trim() {
            "" => None,
            s => Some(s.parse().map_err(|_| {
                invalid(ValidationError::new(
                    "request_id",
                    format!("{} is not a UUID", shopsync_common::text::quoted(s)),
                ))
            })?),
        };
        let s = self.shops.create(&name, spec, creds, request_id).await?;
        Ok(Response::new(shop_to_pb(&s)))
    }

    async fn update_shop(
        &self,
        req: Request<pb::UpdateShopRequest>,
    ) -> Result<Response<pb::Shop>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let name = shop_name(&r.name, "name")?;
        let shop = r.shop.ok_or_else(|| invalid(ValidationError::new("shop", "required")))?;
        let spec = shop_spec_from_pb(&shop, "shop").map_err(invalid)?;
        // An empty string clears a secret; absent keeps it.
        let opt_secret = |v: &Option<String>, f: &str| -> Result<Option<SecretString>, Status> {
            match v {
                None => Ok(None),
                Some(v) => {
                    validate_text(f, v, super::SECRET_MAX).map_err(invalid)?;
                    Ok(Some(SecretString::from(v.clone())))
                }
            }
        };
        let creds = Credentials {
            access_token: opt_secret(&r.access_token, "access_token")?,
            webhook_secret: opt_secret(&r.webhook_secret, "webhook_secret")?,
        };
        let s = self.shops.update(&name, r.expected_version, spec, creds).await?;
        Ok(Response::new(shop_to_pb(&s)))
    }

    async fn get_shop(
        &self,
        req: Request<pb::GetShopRequest>,
    ) -> Result<Response<pb::Shop>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let name = shop_name(&req.get_ref().name, "name")?;
        Ok(Response::new(shop_to_pb(&self.shops.get(&name).await?.shop)))
    }

    async fn list_shops(
        &self,
        req: Request<pb::ListShopsRequest>,
    ) -> Result<Response<pb::ListShopsResponse>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let shops = self.shops.list(req.get_ref().include_disabled).await?;
        Ok(Response::new(pb::ListShopsResponse { shops: shops.iter().map(shop_to_pb).collect() }))
    }

    async fn set_shop_enabled(
        &self,
        req: Request<pb::SetShopEnabledRequest>,
    ) -> Result<Response<pb::Shop>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let name = shop_name(&r.name, "name")?;
        let s = self.shops.set_enabled(&name, r.expected_version, r.enabled).await?;
        Ok(Response::new(shop_to_pb(&s)))
    }

    async fn get_shop_credentials(
        &self,
        req: Request<pb::GetShopRequest>,
    ) -> Result<Response<pb::ShopCredentials>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let name = shop_name(&req.get_ref().name, "name")?;
        let s = self.shops.get(&name).await?;
        Ok(Response::new(pb::ShopCredentials {
            shop: Some(shop_to_pb(&s.shop)),
            access_token: s.access_token.map(sealed_to_pb),
            webhook_secret: s.webhook_secret.map(sealed_to_pb),
        }))
    }

    async fn put_links(
        &self,
        req: Request<pb::PutLinksRequest>,
    ) -> Result<Response<pb::PutLinksResponse>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let shop = shop_name(&r.shop, "shop")?;
        too_many(r.links.len(), "links")?;
        let links = r
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| link_from_pb(l, &format!("links[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        // One call may not link one record twice on either side.
        let mut erp = std::collections::HashSet::new();
        let mut shopify = std::collections::HashSet::new();
        for (i, l) in links.iter().enumerate() {
            if !erp.insert((l.kind, &l.erp)) {
                return Err(invalid(ValidationError::new(
                    format!("links[{i}].erp_id"),
                    "linked twice in this call",
                )));
            }
            if !shopify.insert((l.kind, &l.shopify_id)) {
                return Err(invalid(ValidationError::new(
                    format!("links[{i}].shopify_id"),
                    "linked twice in this call",
                )));
            }
        }
        match self.shops.put_links(&shop, &links).await? {
            PutLinks::Done { inserted, updated, unchanged } => {
                Ok(Response::new(pb::PutLinksResponse {
                    inserted: inserted as u32,
                    updated: updated as u32,
                    unchanged: unchanged as u32,
                }))
            }
            PutLinks::Conflicts(c) => {
                let (l, holder) = &c[0];
                Err(Status::failed_precondition(format!(
                    "{} {} is linked to ERP {} {}{}{}; delete that link first ({} conflict(s), nothing written)",
                    l.kind.as_str(),
                    l.shopify_id,
                    l.kind.as_str(),
                    holder.erp_id,
                    if holder.erp_variant.is_empty() { "" } else { "/" },
                    holder.erp_variant,
                    c.len()
                )))
            }
        }
    }

    async fn lookup_links(
        &self,
        req: Request<pb::LookupLinksRequest>,
    ) -> Result<Response<pb::LookupLinksResponse>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let shop = shop_name(&r.shop, "shop")?;
        let kind = kind(r.kind)?;
        let links = match (r.erp_keys.is_empty(), r.shopify_ids.is_empty()) {
            (false, true) => self.shops.lookup_by_erp(&shop, kind, &erp_keys(&r.erp_keys)?).await?,
            (true, false) => {
                self.shops.lookup_by_shopify(&shop, kind, &shopify_ids(&r.shopify_ids)?).await?
            }
            _ => {
                return Err(invalid(ValidationError::new(
                    "erp_keys",
                    "give either erp_keys or shopify_ids",
                )));
            }
        };
        Ok(Response::new(pb::LookupLinksResponse { links: links.iter().map(link_to_pb).collect() }))
    }

    async fn list_links(
        &self,
        req: Request<pb::ListLinksRequest>,
    ) -> Result<Response<pb::ListLinksResponse>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let shop = shop_name(&r.shop, "shop")?;
        let kind = kind(r.kind)?;
        validate_text("after", &r.after, 255).map_err(invalid)?;
        let limit = match r.page_size {
            0 => 100,
            1..=1000 => i64::from(r.page_size),
            _ => return Err(invalid(ValidationError::new("page_size", "at most 1000"))),
        };
        let links = self.shops.list_links(&shop, kind, &r.after, limit).await?;
        let next_after = if links.len() as i64 == limit {
            links.last().map(|l| l.shopify_id.clone()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListLinksResponse {
            links: links.iter().map(link_to_pb).collect(),
            next_after,
        }))
    }

    async fn delete_links(
        &self,
        req: Request<pb::DeleteLinksRequest>,
    ) -> Result<Response<pb::DeleteLinksResponse>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let shop = shop_name(&r.shop, "shop")?;
        let kind = kind(r.kind)?;
        let keys = erp_keys(&r.erp_keys)?;
        let ids = shopify_ids(&r.shopify_ids)?;
        let deleted = self.shops.delete_links(&shop, kind, &keys, &ids).await?;
        Ok(Response::new(pb::DeleteLinksResponse { deleted: deleted as u32 }))
    }

    async fn list_cursors(
        &self,
        req: Request<pb::ListCursorsRequest>,
    ) -> Result<Response<pb::ListCursorsResponse>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let shop = shop_name(&req.get_ref().shop, "shop")?;
        let cursors = self.shops.cursors(&shop).await?;
        Ok(Response::new(pb::ListCursorsResponse {
            cursors: cursors.iter().map(cursor_to_pb).collect(),
        }))
    }

    async fn get_cursor(
        &self,
        req: Request<pb::CursorKey>,
    ) -> Result<Response<pb::Cursor>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let k = req.into_inner();
        let (shop, resource) = cursor_key(&Some(k))?;
        Ok(Response::new(cursor_to_pb(&self.shops.cursor(&shop, resource).await?)))
    }

    async fn save_cursor(
        &self,
        req: Request<pb::SaveCursorRequest>,
    ) -> Result<Response<pb::Cursor>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let (shop, resource) = cursor_key(&r.key)?;
        cursor_value(&r.value, "value")?;
        if r.expected_version < 0 {
            return Err(invalid(ValidationError::new("expected_version", "must not be negative")));
        }
        let c = self.shops.save_cursor(&shop, resource, &r.value, r.expected_version).await?;
        Ok(Response::new(cursor_to_pb(&c)))
    }

    async fn reset_cursor(
        &self,
        req: Request<pb::ResetCursorRequest>,
    ) -> Result<Response<pb::Cursor>, Status> {
        req.get_ref().check_text().map_err(invalid)?;
        let r = req.into_inner();
        let (shop, resource) = cursor_key(&r.key)?;
        let value = r.value.unwrap_or_default();
        cursor_value(&value, "value")?;
        let c = self.shops.reset_cursor(&shop, resource, &value).await?;
        Ok(Response::new(cursor_to_pb(&c)))
    }
}

impl From<super::repo::ShopsRepoError> for ServiceError {
    fn from(e: super::repo::ShopsRepoError) -> Self {
        ServiceError::Shops(e)
    }
}
