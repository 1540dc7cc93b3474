package exp
import ("context";"fmt";"math";"os";"strings";"strconv";"testing";"time";"github.com/stratahq/strata/services/prediction/cdnow";"github.com/stratahq/strata/services/prediction/features";"github.com/stratahq/strata/services/prediction/learn";"github.com/stratahq/strata/services/prediction/metrics")
func TestExp5(t *testing.T){
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
 logX:=make([][]float64,len(ts.X)); for i,r:=range ts.X{ l:=make([]float64,len(r)); for j,v:=range r{l[j]=math.Log1p(math.Max(v,0))}; logX[i]=l}
 run:=func(name string, X [][]float64, f learn.Trainer){ s:=name; var tot float64; for _,fo:=range [][]int{f1,f2,f3}{oof,err:=learn.CrossValPredictFolds(ctx,f,X,ts.Y,fo,5); if err!=nil{t.Fatal(err)}; r,_:=metrics.AUC(oof,ts.Y); s+=fmt.Sprintf(" %.4f",r); tot+=r}; t.Log(s, fmt.Sprintf("mean %.4f",tot/3))}
 run("lr log",logX,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitLogistic(ctx,X,y,learn.LogisticConfig{})})
 run("lr log C.1",logX,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitLogistic(ctx,X,y,learn.LogisticConfig{C:0.1})})
 for _,c:=range []learn.GBTConfig{{MaxDepth:1,Trees:300,LearningRate:0.05,MinLeaf:30},{MaxDepth:1,Trees:600,LearningRate:0.05,MinLeaf:30},{MaxDepth:2,Trees:300,LearningRate:0.02,MinLeaf:80},{MaxDepth:2,Trees:200,LearningRate:0.05,MinLeaf:100, Lambda:10}, {MaxDepth:3,Trees:300,LearningRate:0.01,MinLeaf:100}}{
  c:=c; c.Seed=42; run(fmt.Sprintf("gbt %d/%d/%g/%d/%g",c.MaxDepth,c.Trees,c.LearningRate,c.MinLeaf,c.Lambda),ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,c)})}
 for _,c:=range []learn.ForestConfig{{MinLeaf:60,Trees:300},{MinLeaf:40,Trees:300,MaxDepth:6},{MinLeaf:100,Trees:300},{MinLeaf:30,Trees:300,FeatureFrac:1}}{
  c:=c; c.Seed=42; run(fmt.Sprintf("rf %d/%d/%g",c.MinLeaf,c.MaxDepth,c.FeatureFrac),ts.X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,c)})}
}
