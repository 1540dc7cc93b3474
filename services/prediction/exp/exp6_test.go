package exp
import ("context";"fmt";"math";"os";"strings";"strconv";"testing";"time";"github.com/stratahq/strata/services/prediction/cdnow";"github.com/stratahq/strata/services/prediction/features";"github.com/stratahq/strata/services/prediction/learn";"github.com/stratahq/strata/services/prediction/metrics")
type hyb struct{ lr *learn.Logistic; g *learn.GBT }
func (h hyb) Predict(x []float64) float64 { l:=make([]float64,len(x)); for j,v:=range x{l[j]=math.Log1p(math.Max(v,0))}; m:=h.lr.Margin(l)+h.g.Margin(x)-h.g.Base; return 1/(1+math.Exp(-m))}
func TestExp6(t *testing.T){
 txs,_:=cdnow.ReadFile("/work/shared/datasets/cdnow/CDNOW_sample.txt")
 st:=features.Replay(cdnow.Events(txs))
 cut:=time.Date(1997,10,1,0,0,0,0,time.UTC)
 ts:=features.BuildTrainingSet(st,cut,features.PurchaseWithin(0))
 ctx:=context.Background()
 b,_:=os.ReadFile("/tmp/skfolds.csv"); fm:=map[string]int{}
 for _,l:=range strings.Split(string(b),"\n")[1:]{ p:=strings.Split(l,","); if len(p)<3{continue}; k,_:=strconv.Atoi(p[1]); fm[p[0]]=k}
 f1:=make([]int,len(ts.Users)); for i,u:=range ts.Users{ f1[i]=fm[u]}
 f2:=learn.StratifiedFolds(ts.Y,5,42)
 f3:=learn.StratifiedFolds(ts.Y,5,7)
 run:=func(name string, X [][]float64, f learn.Trainer){ s:=name; var tot float64; for _,fo:=range [][]int{f1,f2,f3}{oof,err:=learn.CrossValPredictFolds(ctx,f,X,ts.Y,fo,5); if err!=nil{t.Fatal(err)}; r,_:=metrics.AUC(oof,ts.Y); s+=fmt.Sprintf(" %.4f",r); tot+=r}; t.Log(s, fmt.Sprintf("mean %.4f",tot/3))}
 sub:=func(cols []int) [][]float64{ out:=make([][]float64,len(ts.X)); for i,r:=range ts.X{ for _,c:=range cols{out[i]=append(out[i],r[c])}}; return out}
 small:=sub([]int{features.OrderDays,features.DaysSinceLastOrder,features.DaysSinceFirstOrder,features.RevenueTotal,features.ItemsTotal})
 small2:=sub([]int{features.OrderDays,features.DaysSinceLastOrder,features.DaysSinceFirstOrder,features.RevenueTotal,features.ItemsTotal,features.OrderDays90,features.OrderDays180,features.MeanDaysBetweenOrders})
 for _,X:=range [][][]float64{small,small2}{
 run("gbt d1",X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,learn.GBTConfig{MaxDepth:1,Trees:300,LearningRate:0.05,MinLeaf:30,Seed:42})})
 run("gbt d2",X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,learn.GBTConfig{MaxDepth:2,Trees:300,LearningRate:0.02,MinLeaf:80,Seed:42})})
 run("rf",X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{MinLeaf:100,Trees:300,Seed:42})})
 }
 for _,c:=range []learn.GBTConfig{{MaxDepth:2,Trees:100,LearningRate:0.02,MinLeaf:80},{MaxDepth:2,Trees:50,LearningRate:0.05,MinLeaf:100},{MaxDepth:3,Trees:100,LearningRate:0.02,MinLeaf:100}} {
 c:=c; c.Seed=42
 run("hybrid",ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){
   l:=make([][]float64,len(X)); for i,r:=range X{ l[i]=make([]float64,len(r)); for j,v:=range r{l[i][j]=math.Log1p(math.Max(v,0))}}
   lr,err:=learn.FitLogistic(ctx,l,y,learn.LogisticConfig{}); if err!=nil{return nil,err}
   init:=make([]float64,len(X)); for i:=range l{init[i]=lr.Margin(l[i])}
   g,err:=learn.FitGBTFrom(ctx,X,y,init,c); if err!=nil{return nil,err}
   return hyb{lr,g},nil})
 }
}
