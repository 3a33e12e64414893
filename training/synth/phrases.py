"""Phrase lists for synthetic flowcharts, by the role a node plays, in English and Chinese.

Real flowcharts are about orders, logins, builds, approvals, lab work and loops over records;
texts here are taken from those domains so that a detector (and a language model) sees the
words and lengths it will meet, not lorem ipsum.
"""

from __future__ import annotations

import random

__all__ = ["LANGUAGES", "PHRASES", "EDGE_LABELS", "BRANCH_LABELS", "TITLES", "GROUP_TITLES", "phrase", "wrap_text"]

#: Chart languages; "mixed" charts draw each text from either list.
LANGUAGES: tuple[str, ...] = ("en", "zh", "mixed")

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "start": {
        "en": ("Start", "Begin", "START", "Start process", "Customer places order", "User opens app",
               "Request received", "Power on", "Session begins", "New ticket", "Start of shift"),
        "zh": ("开始", "开始流程", "启动", "客户下单", "用户打开应用", "收到请求", "开机", "新建工单", "流程开始"),
    },
    "end": {
        "en": ("End", "Stop", "END", "Done", "Finish", "Exit", "Order complete", "Return result",
               "Close ticket", "Log out", "Process ends", "Shut down"),
        "zh": ("结束", "完成", "退出", "流程结束", "订单完成", "返回结果", "关闭工单", "注销", "关机"),
    },
    "process": {
        "en": ("Validate input", "Compute total", "Send confirmation email", "Update inventory",
               "Assign reviewer", "Create invoice", "Retry request", "Increment counter i = i + 1",
               "Load configuration", "Parse the uploaded file", "Notify the manager", "Reset password",
               "Calculate shipping cost", "Generate report", "Check out the branch", "Run unit tests",
               "Build the package", "Deploy to staging", "Archive old records", "Normalize data",
               "Pack the items", "Schedule delivery", "Refund payment", "Wait 5 minutes", "Sort the list",
               "Mix the samples", "Heat to 90 °C", "Record the result", "Apply discount",
               "Encrypt the payload", "Authenticate user", "Fetch next record", "Log the error",
               "Swap a and b", "Set flag = true", "Merge the results", "Print label", "Call support"),
        "zh": ("验证输入", "计算总价", "发送确认邮件", "更新库存", "分配审核人", "生成发票", "重试请求",
               "计数器加一", "加载配置", "解析上传文件", "通知经理", "重置密码", "计算运费", "生成报表",
               "运行单元测试", "构建安装包", "部署到测试环境", "归档旧记录", "数据标准化", "打包商品",
               "安排配送", "退款", "等待五分钟", "排序列表", "混合样品", "加热至90度", "记录结果",
               "应用折扣", "加密数据", "用户认证", "读取下一条记录", "记录错误日志", "合并结果", "打印标签",
               "联系客服", "填写申请表", "提交审批", "签订合同"),
    },
    "decision": {
        "en": ("Valid?", "In stock?", "Approved?", "Is user logged in?", "x > 0?", "Tests pass?",
               "More items?", "Payment OK?", "Error?", "Timeout?", "i < n?", "Found?", "Retry limit reached?",
               "Amount > 1000?", "Member?", "Is it raining?", "Confirmed?", "File exists?", "Empty?",
               "Temperature OK?", "Manager approves?", "Duplicate?"),
        "zh": ("是否有效？", "有库存吗？", "审批通过？", "用户已登录？", "x > 0？", "测试通过？", "还有数据？",
               "支付成功？", "出错？", "超时？", "i < n？", "找到了吗？", "达到重试上限？", "金额大于1000？",
               "是会员吗？", "是否确认？", "文件存在？", "是否为空？", "温度正常？", "经理同意？", "是否重复？"),
    },
    "io": {
        "en": ("Read input", "Enter username and password", "Print receipt", "Display result",
               "Input n", "Output sum", "Read sensor value", "Show error message", "Upload file",
               "Scan barcode", "Get user choice", "Write to log"),
        "zh": ("读取输入", "输入用户名和密码", "打印小票", "显示结果", "输入n", "输出总和", "读取传感器数值",
               "显示错误信息", "上传文件", "扫描条码", "获取用户选择", "写入日志"),
    },
    "subroutine": {
        "en": ("Process payment", "Call validate()", "Run checkout", "sort(list)", "Send notification",
               "Quality check", "Backup data", "Calculate tax"),
        "zh": ("处理支付", "调用校验函数", "执行结算", "排序子程序", "发送通知", "质量检查", "备份数据", "计算税费"),
    },
    "database": {
        "en": ("Database", "Orders DB", "Customer table", "Inventory", "Cache", "Users", "Log store", "SQL"),
        "zh": ("数据库", "订单库", "客户表", "库存表", "缓存", "用户表", "日志库"),
    },
    "document": {
        "en": ("Report", "Invoice", "Print report", "Monthly summary", "Contract", "Test results",
               "Shipping label", "Receipt"),
        "zh": ("报告", "发票", "打印报告", "月度汇总", "合同", "测试结果", "快递单", "收据"),
    },
    "preparation": {
        "en": ("Initialize i = 0", "Set up environment", "Prepare workspace", "for each item", "Init"),
        "zh": ("初始化 i = 0", "准备环境", "准备工作区", "遍历每一项", "初始化"),
    },
    "manual": {
        "en": ("Manual review", "Sign the form", "Inspect package", "Operator check", "Enter code"),
        "zh": ("人工审核", "签字", "检查包裹", "操作员确认", "手工录入"),
    },
    "connector": {
        "en": ("A", "B", "C", "1", "2", "X"),
        "zh": ("A", "B", "1", "2", "甲", "乙"),
    },
    "note": {
        "en": ("Send to queue", "Flag for review", "Escalate", "Alert", "Pending"),
        "zh": ("发送到队列", "标记待审", "升级处理", "告警", "待处理"),
    },
}

#: Labels on decision branches: (positive, negative) pairs.
BRANCH_LABELS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("Yes", "No"), ("yes", "no"), ("Y", "N"), ("True", "False"), ("OK", "Fail"),
           ("yes", "no"), ("Yes", "No"), ("pass", "fail")),
    "zh": (("是", "否"), ("是", "否"), ("是", "否"), ("通过", "不通过"), ("成功", "失败"), ("Y", "N")),
}

#: Occasional labels on plain arrows.
EDGE_LABELS: dict[str, tuple[str, ...]] = {
    "en": ("next", "on error", "retry", "then", "async", "1", "2", "data", "timeout", "done", "loop"),
    "zh": ("下一步", "出错时", "重试", "然后", "异步", "数据", "超时", "返回", "循环"),
}

#: Chart titles: text on the page that belongs to no node (a distractor a detector must ignore).
TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Order processing", "Login flow", "Figure 3: Algorithm overview", "CI pipeline",
           "Approval workflow", "Sample preparation", "Fig. 2"),
    "zh": ("订单处理流程", "登录流程", "图3 算法流程图", "持续集成流程", "审批流程", "样品制备流程"),
}

#: Titles of node groups (Graphviz clusters, swimlanes): frames that are not nodes.
GROUP_TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Validation", "Payment", "Shipping", "Setup", "Main loop", "Error handling", "Client", "Server",
           "Stage 1", "Review"),
    "zh": ("校验", "支付", "发货", "初始化", "主循环", "异常处理", "客户端", "服务端", "阶段一", "审核"),
}


def phrase(role: str, language: str, rng: random.Random) -> str:
    """A phrase for a node of ``role`` in ``language`` ("en", "zh"; "mixed" picks one).

    >>> phrase("start", "zh", random.Random(0)) in PHRASES["start"]["zh"]
    True
    """
    if language == "mixed":
        language = rng.choice(("en", "zh"))
    return rng.choice(PHRASES[role][language])


def wrap_text(text: str, width: int) -> str:
    """``text`` broken into lines of about ``width`` characters (words kept whole in English).

    A CJK character is about twice as wide as a Latin one, so Chinese lines wrap at width / 2.

    >>> wrap_text("Send confirmation email", 10)
    'Send\\nconfirmation\\nemail'
    >>> wrap_text("输入用户名和密码", 8)
    '输入用户\\n名和密码'
    """
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        step = max(2, width // 2)
        return "\n".join(text[i : i + step] for i in range(0, len(text), step))
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)
