"""The outbox publisher: drains the catalog's event outbox to Kafka (events that waited while the broker was
down). It depends on no setting, so it is defined once, at module level."""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from proxygen_dagster.common import tick_resources
from proxygen_dagster.names import SENSOR
from proxygen_dagster.resources import CatalogResource, EventBus


def outbox_publisher_tick(context: SensorEvaluationContext, catalog: CatalogResource, events: EventBus) -> SkipReason:
    """One tick: every pending event of the outbox offered to Kafka once."""
    if not events.enabled:
        return SkipReason("no Kafka bootstrap configured: events stay in the outbox (proxygen events)")
    report = events.publisher().drain(catalog.open())
    if report is None:  # enabled was checked above: drain returns None only without a broker
        return SkipReason("no Kafka bootstrap configured: events stay in the outbox (proxygen events)")
    if report.broker_error:
        context.log.warning(f"Kafka refused or unreachable: {report.broker_error}")
    for event_id, error in list(report.errors.items())[:10]:
        context.log.warning(f"event {event_id} not delivered yet: {error}")
    return SkipReason(f"published {report.sent} of {report.attempted} pending events")


@sensor(name=SENSOR.outbox_publisher, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Drains the catalog's event outbox to Kafka (events that waited while the broker was down).")
def outbox_publisher(context: SensorEvaluationContext) -> SkipReason:
    with tick_resources(context, ("catalog", "events")) as r:
        return outbox_publisher_tick(context, r["catalog"], r["events"])
