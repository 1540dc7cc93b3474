package world

// The world's vocabulary: categories and their tags (slugs with Chinese and English
// display names), personas (the latent taste clusters) and the trait values of users.

type tagDef struct {
	slug, zh, en string
}

type categoryDef struct {
	slug, zh, en string
	tags         [6]tagDef
}

var categories = []categoryDef{
	{"tech", "编程与技术", "Programming & Technology", [6]tagDef{
		{"python", "Python 编程", "Python Programming"},
		{"machine-learning", "机器学习", "Machine Learning"},
		{"web-dev", "Web 开发", "Web Development"},
		{"data-analysis", "数据分析", "Data Analysis"},
		{"cloud", "云计算", "Cloud Computing"},
		{"algorithms", "算法与数据结构", "Algorithms and Data Structures"},
	}},
	{"business", "商业与管理", "Business & Management", [6]tagDef{
		{"strategy", "商业战略", "Business Strategy"},
		{"marketing", "市场营销", "Marketing"},
		{"leadership", "领导力", "Leadership"},
		{"startup", "创业", "Startups"},
		{"product-management", "产品管理", "Product Management"},
		{"negotiation", "谈判", "Negotiation"},
	}},
	{"finance", "投资理财", "Investing & Personal Finance", [6]tagDef{
		{"stocks", "股票投资", "Stock Investing"},
		{"funds", "基金定投", "Index Funds"},
		{"budgeting", "家庭理财", "Household Budgeting"},
		{"insurance", "保险规划", "Insurance Planning"},
		{"real-estate", "房产投资", "Real Estate"},
		{"economics", "经济学入门", "Economics"},
	}},
	{"language", "外语学习", "Languages", [6]tagDef{
		{"spoken-english", "英语口语", "Spoken English"},
		{"ielts", "雅思备考", "IELTS Preparation"},
		{"japanese", "日语入门", "Beginner Japanese"},
		{"business-english", "商务英语", "Business English"},
		{"english-writing", "英文写作", "English Writing"},
		{"french", "法语入门", "Beginner French"},
	}},
	{"psychology", "心理学", "Psychology", [6]tagDef{
		{"emotions", "情绪管理", "Managing Emotions"},
		{"relationships", "亲密关系", "Relationships"},
		{"cognition", "认知心理学", "Cognitive Psychology"},
		{"mindfulness", "正念冥想", "Mindfulness"},
		{"self-growth", "自我成长", "Personal Growth"},
		{"social-psychology", "社会心理学", "Social Psychology"},
	}},
	{"history", "历史与人文", "History & Humanities", [6]tagDef{
		{"chinese-history", "中国史", "Chinese History"},
		{"world-history", "世界史", "World History"},
		{"philosophy", "哲学", "Philosophy"},
		{"classics", "国学经典", "Chinese Classics"},
		{"literature", "文学", "Literature"},
		{"archaeology", "考古", "Archaeology"},
	}},
	{"parenting", "亲子教育", "Parenting", [6]tagDef{
		{"early-education", "早期教育", "Early Education"},
		{"reading-with-kids", "亲子阅读", "Reading with Children"},
		{"teenagers", "青春期教育", "Raising Teenagers"},
		{"math-for-kids", "少儿数学", "Math for Kids"},
		{"family-life", "家庭关系", "Family Life"},
		{"school-choice", "升学规划", "Choosing Schools"},
	}},
	{"health", "健康与运动", "Health & Fitness", [6]tagDef{
		{"fitness", "健身", "Fitness"},
		{"nutrition", "营养学", "Nutrition"},
		{"sleep", "睡眠改善", "Better Sleep"},
		{"running", "跑步", "Running"},
		{"yoga", "瑜伽", "Yoga"},
		{"tcm", "中医养生", "Traditional Chinese Medicine"},
	}},
	{"career", "职场成长", "Career Growth", [6]tagDef{
		{"excel", "Excel 技能", "Excel Skills"},
		{"presentations", "PPT 演示", "Presentations"},
		{"communication", "职场沟通", "Workplace Communication"},
		{"time-management", "时间管理", "Time Management"},
		{"job-hunting", "求职面试", "Job Hunting"},
		{"promotion", "升职加薪", "Getting Promoted"},
	}},
	{"art", "艺术与设计", "Art & Design", [6]tagDef{
		{"drawing", "绘画", "Drawing"},
		{"photography", "摄影", "Photography"},
		{"music", "音乐欣赏", "Music Appreciation"},
		{"graphic-design", "平面设计", "Graphic Design"},
		{"calligraphy", "书法", "Calligraphy"},
		{"film", "电影赏析", "Film Studies"},
	}},
	{"science", "科学与科普", "Popular Science", [6]tagDef{
		{"physics", "物理学", "Physics"},
		{"astronomy", "天文学", "Astronomy"},
		{"biology", "生物学", "Biology"},
		{"ai-literacy", "人工智能通识", "AI for Everyone"},
		{"medicine", "医学常识", "Everyday Medicine"},
		{"math-thinking", "数学思维", "Mathematical Thinking"},
	}},
	{"exam", "考试与考证", "Exams & Certificates", [6]tagDef{
		{"civil-service-exam", "公务员考试", "Civil Service Exam"},
		{"postgraduate-exam", "考研", "Postgraduate Entrance Exam"},
		{"cpa", "注册会计师", "CPA"},
		{"teacher-certificate", "教师资格证", "Teaching Certificate"},
		{"bar-exam", "法律职业资格考试", "Bar Exam"},
		{"pmp", "PMP 项目管理", "PMP Certification"},
	}},
}

// numCategories and tagsPerCategory size the latent vectors.
const (
	numCategories   = 12
	tagsPerCategory = 6
	numTags         = numCategories * tagsPerCategory
)

// Trait values, as the identify calls carry them.
var (
	ageBands    = []string{"18-24", "25-34", "35-44", "45-54", "55+"}
	genders     = []string{"female", "male", "unknown"}
	occupations = []string{"student", "engineer", "teacher", "manager", "sales", "finance", "healthcare", "civil_servant", "freelancer", "other"}
	incomes     = []string{"low", "middle", "upper_middle", "high"}
	cityTiers   = []string{"1", "2", "3", "4"}
	devices     = []string{"ios", "android", "web", "wechat_mini_program"}
)

// Persona is a latent taste cluster: the share of a member's attention each category
// gets before the member's own noise, the tags the cluster prefers, and how its members'
// traits lean. Events never name the persona; models have to find it.
type Persona struct {
	Name string
	// Categories maps category slugs to weights summing to 1.
	Categories map[string]float64
	// Tags are preferred tag slugs.
	Tags []string

	age, gender, occupation, income, city []float64
	// activity multiplies the sessions per week of members; enLocale is the share of
	// members whose app is in English.
	activity, enLocale float64
}

var personas = []Persona{
	{
		Name:       "developer",
		Categories: map[string]float64{"tech": 0.55, "career": 0.2, "science": 0.15, "exam": 0.1},
		Tags:       []string{"python", "machine-learning", "ai-literacy"},
		age:        []float64{0.25, 0.5, 0.2, 0.04, 0.01},
		gender:     []float64{0.3, 0.65, 0.05},
		occupation: []float64{0.15, 0.6, 0.02, 0.08, 0.02, 0.03, 0.01, 0.02, 0.06, 0.01},
		income:     []float64{0.1, 0.35, 0.4, 0.15},
		city:       []float64{0.45, 0.35, 0.15, 0.05},
		activity:   1.2, enLocale: 0.3,
	},
	{
		Name:       "investor",
		Categories: map[string]float64{"finance": 0.55, "business": 0.25, "history": 0.1, "science": 0.1},
		Tags:       []string{"stocks", "funds", "economics"},
		age:        []float64{0.05, 0.3, 0.4, 0.2, 0.05},
		gender:     []float64{0.4, 0.55, 0.05},
		occupation: []float64{0.02, 0.15, 0.03, 0.25, 0.1, 0.3, 0.03, 0.05, 0.05, 0.02},
		income:     []float64{0.05, 0.25, 0.4, 0.3},
		city:       []float64{0.5, 0.3, 0.15, 0.05},
		activity:   1.0, enLocale: 0.15,
	},
	{
		Name:       "parent",
		Categories: map[string]float64{"parenting": 0.55, "health": 0.2, "psychology": 0.15, "language": 0.1},
		Tags:       []string{"early-education", "reading-with-kids", "math-for-kids"},
		age:        []float64{0.02, 0.45, 0.45, 0.07, 0.01},
		gender:     []float64{0.75, 0.22, 0.03},
		occupation: []float64{0.01, 0.1, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.09, 0.1},
		income:     []float64{0.15, 0.4, 0.3, 0.15},
		city:       []float64{0.3, 0.35, 0.25, 0.1},
		activity:   0.9, enLocale: 0.05,
	},
	{
		Name:       "language-learner",
		Categories: map[string]float64{"language": 0.55, "exam": 0.2, "career": 0.15, "art": 0.1},
		Tags:       []string{"ielts", "spoken-english", "japanese"},
		age:        []float64{0.55, 0.35, 0.07, 0.02, 0.01},
		gender:     []float64{0.6, 0.37, 0.03},
		occupation: []float64{0.55, 0.08, 0.05, 0.03, 0.08, 0.05, 0.03, 0.03, 0.06, 0.04},
		income:     []float64{0.45, 0.35, 0.15, 0.05},
		city:       []float64{0.35, 0.35, 0.2, 0.1},
		activity:   1.1, enLocale: 0.2,
	},
	{
		Name:       "humanist",
		Categories: map[string]float64{"history": 0.5, "art": 0.2, "science": 0.15, "psychology": 0.15},
		Tags:       []string{"chinese-history", "philosophy", "classics"},
		age:        []float64{0.1, 0.2, 0.3, 0.25, 0.15},
		gender:     []float64{0.5, 0.46, 0.04},
		occupation: []float64{0.1, 0.1, 0.15, 0.1, 0.05, 0.05, 0.1, 0.15, 0.1, 0.1},
		income:     []float64{0.2, 0.4, 0.3, 0.1},
		city:       []float64{0.3, 0.3, 0.25, 0.15},
		activity:   0.8, enLocale: 0.1,
	},
	{
		Name:       "manager",
		Categories: map[string]float64{"business": 0.5, "career": 0.25, "psychology": 0.15, "finance": 0.1},
		Tags:       []string{"leadership", "strategy", "communication"},
		age:        []float64{0.02, 0.33, 0.45, 0.17, 0.03},
		gender:     []float64{0.4, 0.57, 0.03},
		occupation: []float64{0.01, 0.1, 0.02, 0.5, 0.15, 0.1, 0.02, 0.05, 0.03, 0.02},
		income:     []float64{0.03, 0.2, 0.42, 0.35},
		city:       []float64{0.55, 0.3, 0.12, 0.03},
		activity:   1.0, enLocale: 0.25,
	},
	{
		Name:       "wellness",
		Categories: map[string]float64{"health": 0.5, "psychology": 0.25, "art": 0.15, "parenting": 0.1},
		Tags:       []string{"yoga", "sleep", "mindfulness"},
		age:        []float64{0.1, 0.3, 0.3, 0.2, 0.1},
		gender:     []float64{0.7, 0.27, 0.03},
		occupation: []float64{0.05, 0.08, 0.1, 0.1, 0.1, 0.1, 0.17, 0.1, 0.15, 0.05},
		income:     []float64{0.15, 0.4, 0.3, 0.15},
		city:       []float64{0.4, 0.35, 0.18, 0.07},
		activity:   0.9, enLocale: 0.1,
	},
	{
		Name:       "exam-taker",
		Categories: map[string]float64{"exam": 0.55, "language": 0.2, "career": 0.15, "tech": 0.1},
		Tags:       []string{"civil-service-exam", "postgraduate-exam", "cpa"},
		age:        []float64{0.6, 0.35, 0.04, 0.01, 0},
		gender:     []float64{0.55, 0.42, 0.03},
		occupation: []float64{0.65, 0.05, 0.05, 0.02, 0.05, 0.05, 0.02, 0.02, 0.04, 0.05},
		income:     []float64{0.6, 0.3, 0.08, 0.02},
		city:       []float64{0.2, 0.3, 0.3, 0.2},
		activity:   1.3, enLocale: 0.03,
	},
}

// Personas returns the latent taste clusters of every world.
func Personas() []Persona {
	out := make([]Persona, len(personas))
	copy(out, personas)
	return out
}

// Item types: the catalog contract's enum names, how they read, their share of the
// catalog, price points (CNY, minor units) and lesson shape.
type itemTypeDef struct {
	enum, slug, zh, en string
	share              float64
	prices             []int64
	lessons            [2]int // min, max
	minutes            [2]int // per lesson
}

const membershipType = 5

var itemTypes = []itemTypeDef{
	{"ITEM_TYPE_COURSE", "course", "课程", "course", 0.3, []int64{9900, 12900, 19900, 29900, 39900, 59900, 99900}, [2]int{12, 40}, [2]int{10, 25}},
	{"ITEM_TYPE_COLUMN", "column", "专栏", "column", 0.2, []int64{4900, 6900, 9900, 12900, 19900}, [2]int{20, 60}, [2]int{8, 15}},
	{"ITEM_TYPE_AUDIOBOOK", "audiobook", "有声书", "audiobook", 0.15, []int64{990, 1990, 2990, 3990, 4990}, [2]int{8, 30}, [2]int{20, 40}},
	{"ITEM_TYPE_LIVE_CLASS", "live_class", "直播课", "live class", 0.1, []int64{990, 2990, 4990, 9900, 19900}, [2]int{1, 4}, [2]int{60, 120}},
	{"ITEM_TYPE_EBOOK", "ebook", "电子书", "ebook", 0.2, []int64{990, 1990, 2990, 3990, 5990}, [2]int{10, 30}, [2]int{15, 30}},
	{"ITEM_TYPE_MEMBERSHIP", "membership", "会员", "membership", 0.05, []int64{2500, 3000, 4500, 6800}, [2]int{0, 0}, [2]int{0, 0}},
}

// Title templates per item type; %[1]s is the topic, %[2]s the creator, %[3]d the
// number of lessons.
var titlesZH = [][]string{
	{"%[1]s实战课", "%[1]s从入门到精通", "%[1]s系统课：%[3]d讲"},
	{"%[2]s的%[1]s专栏", "%[1]s每日一讲", "%[1]s深度专栏"},
	{"听懂%[1]s", "%[1]s（有声书）", "%[1]s十五讲"},
	{"%[1]s直播训练营", "%[1]s公开课（直播）", "%[2]s直播：%[1]s答疑"},
	{"%[1]s手册", "图解%[1]s", "%[1]s入门指南"},
	{"%[1]s会员月卡"},
}

var titlesEN = [][]string{
	{"%[1]s: From Beginner to Expert", "Hands-on %[1]s", "%[1]s in %[3]d Lessons"},
	{"%[2]s on %[1]s", "A Daily Dose of %[1]s", "%[1]s in Depth"},
	{"%[1]s, Explained (Audiobook)", "Listen and Learn: %[1]s", "Fifteen Talks on %[1]s"},
	{"%[1]s Live Bootcamp", "%[1]s: Live Open Class", "Live with %[2]s: %[1]s Q&A"},
	{"The %[1]s Handbook", "%[1]s Illustrated", "A First Guide to %[1]s"},
	{"%[1]s Membership (monthly)"},
}

var audiencesZH = []string{"零基础的初学者", "希望系统提升的在职人士", "想进阶的中级学习者"}
var audiencesEN = []string{"complete beginners", "working people who want a structured path", "intermediate learners ready for more"}

// Names of creators.
var (
	surnamesZH = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "马", "胡", "朱", "郭", "何", "林", "罗", "高"}
	givenZH    = []string{"晓明", "文静", "志强", "海燕", "建国", "丽华", "子涵", "思远", "一鸣", "雨桐", "博文", "欣怡", "浩然", "佳琪", "俊杰", "梦瑶"}
	firstEN    = []string{"Alex", "Sam", "Jordan", "Taylor", "Morgan", "Chris", "Jamie", "Robin", "Casey", "Lee", "Dana", "Kai"}
	lastEN     = []string{"Chen", "Smith", "Wang", "Garcia", "Li", "Brown", "Zhang", "Miller", "Liu", "Davis", "Huang", "Wilson"}
)

// Review bodies by sentiment (negative, neutral, positive); %s is the item title.
var reviewsZH = [3][]string{
	{"《%s》内容太浅，和介绍不符，有点失望。", "《%s》讲得比较乱，听不下去。", "《%s》性价比不高，不推荐。"},
	{"《%s》中规中矩，有些章节不错。", "《%s》还可以，希望多一些案例。", "《%s》整体一般，适合入门。"},
	{"《%s》讲得很清楚，收获很大！", "《%s》干货满满，已推荐给朋友。", "《%s》老师很用心，值得反复学习。"},
}

var reviewsEN = [3][]string{
	{"%s was shallower than the description promised.", "%s felt disorganised; I gave up halfway.", "%s is not worth the price."},
	{"%s is fine; some chapters are good.", "%s is okay, but I wanted more examples.", "%s is average, good for beginners."},
	{"%s is clear and genuinely useful!", "%s is packed with substance; I recommended it to friends.", "%s is excellent, worth revisiting."},
}

var ticketTopics = []string{"playback", "payment", "account", "content", "invoice"}
