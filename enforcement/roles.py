"""The staff roles and what each may do, applied by data migrations.

Officer: works the cases of their own region (the region scoping itself is in admin and
selectors). Supervisor: every region, reassigns work, signs off escalations. Auditor: reads
everything, changes nothing, and does not see biometric images themselves.
"""

OFFICER = "Officer"
SUPERVISOR = "Supervisor"
AUDITOR = "Auditor"
ROLES = (OFFICER, SUPERVISOR, AUDITOR)

# {role: {app_label: {model_name: [actions or custom codenames]}}}
ENFORCEMENT_PERMISSIONS = {
    OFFICER: {
        "region": ["view"],
        "client": ["view", "add", "change"],
        "referencephoto": ["view", "add", "change"],
        "reportingcondition": ["view", "add", "change"],
        "reportingwindow": ["view", "change"],
        "investigationtask": ["view", "change", "view_biometrics"],
        "tasknote": ["view", "add"],
        "escalation": ["view", "add"],
        "consentrecord": ["view", "add"],
        "consenttext": ["view"],
        "circumstancechange": ["view"],
        "activationcode": ["view", "add"],
        "notification": ["view"],
    },
    SUPERVISOR: {
        "region": ["view"],
        "user": ["view"],
        "client": ["view", "add", "change"],
        "referencephoto": ["view", "add", "change"],
        "reportingcondition": ["view", "add", "change"],
        "reportingwindow": ["view", "change"],
        "investigationtask": ["view", "change", "view_biometrics", "reassign_task"],
        "tasknote": ["view", "add"],
        "escalation": ["view", "add", "change", "approve_escalation"],
        "consentrecord": ["view", "add"],
        "consenttext": ["view"],
        "circumstancechange": ["view"],
        "activationcode": ["view", "add"],
        "notification": ["view"],
        "auditevent": ["view"],
        "accessrecord": ["view"],
    },
    AUDITOR: {
        model: ["view"]
        for model in (
            "region", "user", "client", "referencephoto", "reportingcondition", "reportingwindow",
            "investigationtask", "tasknote", "escalation", "consentrecord", "consenttext",
            "circumstancechange", "activationcode", "notification", "auditevent", "accessrecord",
        )
    },
}

REPORTIN_PERMISSIONS = {
    OFFICER: {"device": ["view", "change"], "checkin": ["view"], "facematch": ["view"]},
    SUPERVISOR: {"device": ["view", "change"], "checkin": ["view"], "facematch": ["view"]},
    AUDITOR: {"device": ["view"], "checkin": ["view"], "facematch": ["view"]},
}


def codename(action: str, model: str) -> str:
    return f"{action}_{model}" if action in {"view", "add", "change", "delete"} else action


def grant(apps, app_label: str, table: dict) -> None:
    """Create the role groups if needed and give each the permissions listed in `table`."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, models in table.items():
        group, _ = Group.objects.get_or_create(name=role)
        for model, actions in models.items():
            for action in actions:
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, content_type__model=model, codename=codename(action, model))
                )


# --- Who sees what ---------------------------------------------------------------------------


def role_names(user) -> frozenset[str]:
    """The user's role groups, read once per request (kept on the user object)."""
    names = getattr(user, "_reportin_roles", None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True)) if user.is_authenticated else frozenset()
        user._reportin_roles = names
    return names


def is_supervisor(user) -> bool:
    return user.is_active and (user.is_superuser or SUPERVISOR in role_names(user))


def is_auditor(user) -> bool:
    return user.is_active and AUDITOR in role_names(user) and not is_supervisor(user)


def sees_all_regions(user) -> bool:
    """Supervisors, auditors and superusers see every region; everyone else (officers) only
    their own, and a staff user without a region sees no client at all."""
    return user.is_active and (user.is_superuser or bool({SUPERVISOR, AUDITOR} & role_names(user)))


def scope(queryset, user, region_field: str = "client__region"):
    """`queryset` cut down to what `user` may see: the rows whose `region_field` is the
    officer's region. Applied to every list, page, export and image of officer data."""
    if sees_all_regions(user):
        return queryset
    if not user.is_active or user.region_id is None:
        return queryset.none()
    return queryset.filter(**{f"{region_field}_id": user.region_id})


def may_see_region(user, region_id: int | None) -> bool:
    return sees_all_regions(user) or (user.is_active and user.region_id is not None and user.region_id == region_id)
