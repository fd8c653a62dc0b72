DROP TRIGGER appliances_need_an_application ON appliances;
DROP FUNCTION si_appliance_needs_application();
DROP TRIGGER applications_keep_live_appliances ON applications;
DROP FUNCTION si_refuse_live_orphans();
