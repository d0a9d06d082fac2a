"""Launch the SS3D monocular 3D node (and optionally RViz).

    ros2 launch ss3d_ros ss3d.launch.py image_topic:=/camera/image_raw
    ros2 launch ss3d_ros ss3d.launch.py image_topic:=/cam0/image_raw use_camera_info:=true \
        camera_info_topic:=/cam0/camera_info namespace:=front rviz:=true
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription

PACKAGE = "ss3d_ros"
EXECUTABLE = "ss3d_node"
PARAMS_FILE = "ss3d.yaml"
RVIZ_FILE = "ss3d.rviz"


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the lifecycle node (it configures and activates itself: autostart)."""
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", PARAMS_FILE),
                              description="YAML file with the node parameters"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="SS3D checkpoint (NAME.safetensors); empty = the bundled one"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its outputs"),
        DeclareLaunchArgument("image_topic", default_value="image", description="Input sensor_msgs/Image topic"),
        DeclareLaunchArgument("camera_info_topic", default_value="camera_info_in",
                              description="Input sensor_msgs/CameraInfo topic (used with use_camera_info)"),
        DeclareLaunchArgument("use_camera_info", default_value="false",
                              description="Use the calibrated K from camera_info_topic instead of the learned K"),
        DeclareLaunchArgument("depth_topic", default_value="depth", description="Output depth image topic"),
        DeclareLaunchArgument("odom_topic", default_value="odom", description="Output nav_msgs/Odometry topic"),
        DeclareLaunchArgument("rviz", default_value="false", description="Also start RViz with config/ss3d.rviz"),
    ]
    node = LifecycleNode(
        package=PACKAGE,
        executable=EXECUTABLE,
        name="ss3d",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        parameters=[
            LaunchConfiguration("params_file"),
            {"checkpoint": ParameterValue(LaunchConfiguration("checkpoint"), value_type=str)},
            {"use_camera_info": ParameterValue(LaunchConfiguration("use_camera_info"), value_type=bool)},
        ],
        remappings=[
            ("image", LaunchConfiguration("image_topic")),
            ("camera_info_in", LaunchConfiguration("camera_info_topic")),
            ("depth", LaunchConfiguration("depth_topic")),
            ("odom", LaunchConfiguration("odom_topic")),
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", os.path.join(share, "config", RVIZ_FILE)],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*arguments, node, rviz])
