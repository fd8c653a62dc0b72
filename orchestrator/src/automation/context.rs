//! An application as its scripts see it: loaded once from the store (`World::load`), then the
//! render context for any of its appliances and the appliances a `run_script` target names.

use super::render::{ApplianceCtx, Context, EventCtx, GroupCtx, LayerCtx, Named};
use common::api::{ApplianceRole, Target};
use common::{ApplianceId, ApplianceState, ApplicationId, GroupId, LayerId, TemplateId, TenantId};
use std::collections::HashMap;
use store::repo::{applications, projects, tenants, unscoped};
use store::{Appliance, Application, DbConn, Event, Group, Layer, StoreError, Template};

/// Appliances a script may address: up, with their agent speaking (configuring or running).
pub fn live(state: ApplianceState) -> bool {
    matches!(state, ApplianceState::Configuring | ApplianceState::Running)
}

/// One application with everything its scripts can see.
#[derive(Clone, Debug)]
pub struct World {
    pub tenant: Named,
    pub project: Named,
    pub app: Application,
    pub layers: Vec<Layer>,
    pub groups: Vec<Group>,
    pub templates: HashMap<TemplateId, Template>,
    /// Every appliance of the application that is not terminated (and the `also` of [`World::load`]).
    pub appliances: Vec<Appliance>,
}

impl World {
    /// Load the application `id` of `tenant` (`None` when it is gone); `also` names appliances to
    /// include even when terminated (the one an `appliance.terminated` event is about).
    pub fn load(
        c: &mut DbConn,
        tenant: TenantId,
        id: ApplicationId,
        also: Option<ApplianceId>,
    ) -> Result<Option<World>, StoreError> {
        let Some(app) = applications::get(c, tenant, id)? else {
            return Ok(None);
        };
        let t = tenants::get(c, tenant)?;
        let p = projects::get(c, tenant, app.project_id)?;
        let layers = applications::layers(c, tenant, id)?;
        let groups = unscoped::applications::groups(c, id)?;
        let mut templates = HashMap::new();
        for g in &groups {
            if !templates.contains_key(&g.template_id)
                && let Some(t) = unscoped::templates::get(c, g.template_id)?
            {
                templates.insert(t.id, t);
            }
        }
        let appliances = unscoped::appliances::of_application(c, id)?;
        let mut world = World {
            tenant: Named {
                id: tenant.to_string(),
                name: t.map(|t| t.name).unwrap_or_default(),
            },
            project: Named {
                id: app.project_id.to_string(),
                name: p.map(|p| p.name).unwrap_or_default(),
            },
            app,
            layers,
            groups,
            templates,
            appliances,
        };
        world.include(c, also)?;
        Ok(Some(world))
    }

    /// Add the appliance `id` of this application when the world lacks it (a terminated one: the
    /// appliance an `appliance.terminated` event is about, met after the world was loaded).
    pub fn include(&mut self, c: &mut DbConn, id: Option<ApplianceId>) -> Result<(), StoreError> {
        if let Some(id) = id
            && self.appliance(id).is_none()
            && let Some(a) = unscoped::appliances::get(c, id)?
            && a.application_id == self.app.id
        {
            self.appliances.push(a);
        }
        Ok(())
    }

    fn group(&self, id: GroupId) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    fn layer_name(&self, id: LayerId) -> String {
        self.layers
            .iter()
            .find(|l| l.id == id)
            .map(|l| l.name.clone())
            .unwrap_or_default()
    }

    /// The role of an appliance's template.
    pub fn role_of(&self, a: &Appliance) -> Option<ApplianceRole> {
        self.templates.get(&a.template_id).map(|t| t.role)
    }

    /// The name of an appliance's layer.
    pub fn layer_of(&self, a: &Appliance) -> String {
        self.group(a.group_id)
            .map(|g| self.layer_name(g.layer_id))
            .unwrap_or_default()
    }

    /// The name of an appliance's group.
    pub fn group_of(&self, a: &Appliance) -> String {
        self.group(a.group_id)
            .map(|g| g.name.clone())
            .unwrap_or_default()
    }

    pub fn appliance(&self, id: ApplianceId) -> Option<&Appliance> {
        self.appliances.iter().find(|a| a.id == id)
    }

    pub fn appliance_ctx(&self, a: &Appliance) -> ApplianceCtx {
        let template = self.templates.get(&a.template_id);
        ApplianceCtx {
            id: a.id.to_string(),
            name: a.name.clone(),
            ip: a.ip.clone(),
            state: a.state.as_str().to_owned(),
            layer: self.layer_of(a),
            group: self.group_of(a),
            role: template
                .map(|t| t.role.as_str().to_owned())
                .unwrap_or_default(),
            template: template.map(|t| t.name.clone()).unwrap_or_default(),
        }
    }

    fn layer_ctx(&self, layer: &Layer) -> LayerCtx {
        let members = self
            .appliances
            .iter()
            .filter(|a| live(a.state) && a.ip.is_some())
            .filter(|a| {
                self.group(a.group_id)
                    .is_some_and(|g| g.layer_id == layer.id)
            })
            .map(|a| self.appliance_ctx(a))
            .collect();
        LayerCtx::new(&layer.name, members)
    }

    /// The context of a script run on `target` (none: not tied to one appliance) because of `event`.
    pub fn context(&self, target: Option<&Appliance>, event: Option<&Event>) -> Context {
        let layers: Vec<LayerCtx> = self.layers.iter().map(|l| self.layer_ctx(l)).collect();
        let group = target.and_then(|a| self.group(a.group_id));
        let layer = group.and_then(|g| {
            let name = self.layer_name(g.layer_id);
            layers.iter().find(|l| l.name == name).cloned()
        });
        let event = event.map(|e| EventCtx {
            id: e.id.to_string(),
            type_: e.type_.clone(),
            at: e.at.to_rfc3339(),
            detail: e.detail.clone(),
            // the event's appliance as it is now (a terminated one is still described)
            appliance: e
                .appliance_id
                .and_then(|id| self.appliance(id))
                .map(|a| self.appliance_ctx(a)),
        });
        Context {
            tenant: self.tenant.clone(),
            project: self.project.clone(),
            app: Named {
                id: self.app.id.to_string(),
                name: self.app.name.clone(),
            },
            layers,
            layer,
            group: group.map(|g| {
                let t = self.templates.get(&g.template_id);
                GroupCtx {
                    id: g.id.to_string(),
                    name: g.name.clone(),
                    template: t.map(|t| t.name.clone()).unwrap_or_default(),
                    role: t.map(|t| t.role.as_str().to_owned()).unwrap_or_default(),
                    desired: g.size.desired,
                    min: g.size.min,
                    max: g.size.max,
                }
            }),
            appliance: target.map(|a| self.appliance_ctx(a)),
            event,
            now: store::time::now().to_rfc3339(),
        }
    }

    /// The live appliances a target names, by name.
    pub fn targets(
        &self,
        target: &Target,
        event_appliance: Option<ApplianceId>,
    ) -> Vec<&Appliance> {
        let mut out: Vec<&Appliance> = self
            .appliances
            .iter()
            .filter(|a| live(a.state))
            .filter(|a| match target {
                Target::EventAppliance => Some(a.id) == event_appliance,
                Target::Layer { name } => &self.layer_of(a) == name,
                Target::Group { name } => &self.group_of(a) == name,
                Target::Role { role } => self.role_of(a) == Some(*role),
                Target::All => true,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}
