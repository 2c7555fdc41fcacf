"""leanvibe-constructs: cdk8s constructs for running a Python API with real high availability."""

from ._node import use_wheel_node

use_wheel_node()  # before anything imports cdk8s and starts the jsii runtime

from ._network import Endpoint, Port  # noqa: E402
from ._props import PropsError  # noqa: E402
from .baseline import PlatformBaseline, PlatformBaselineProps, StorageClassSettings  # noqa: E402
from .ha_api_deployment import HAApiDeployment, HAApiDeploymentProps, IngressSettings, SecretKeyRef  # noqa: E402
from ._pod import ProbeSettings  # noqa: E402
from .zero_trust import ZeroTrustPolicies, ZeroTrustPoliciesProps  # noqa: E402
from .postgres_ha import BackupSettings, PostgresHA, PostgresHAProps  # noqa: E402
from .redis_sentinel import RedisSentinel, RedisSentinelProps  # noqa: E402
from .monitoring import SLI, SLO, MonitoringStack, MonitoringStackProps  # noqa: E402
from .autoscaling import CapacityModel, SmartAutoscaler, SmartAutoscalerProps, VerticalScaling  # noqa: E402

__all__ = [
    "BackupSettings",
    "CapacityModel",
    "Endpoint",
    "HAApiDeployment",
    "HAApiDeploymentProps",
    "IngressSettings",
    "MonitoringStack",
    "MonitoringStackProps",
    "PlatformBaseline",
    "PlatformBaselineProps",
    "Port",
    "PostgresHA",
    "PostgresHAProps",
    "ProbeSettings",
    "PropsError",
    "RedisSentinel",
    "RedisSentinelProps",
    "SLI",
    "SLO",
    "SecretKeyRef",
    "SmartAutoscaler",
    "SmartAutoscalerProps",
    "StorageClassSettings",
    "VerticalScaling",
    "ZeroTrustPolicies",
    "ZeroTrustPoliciesProps",
]
