package exp
import ("context";"math";"testing";"time";"github.com/stratahq/strata/services/prediction/cdnow";"github.com/stratahq/strata/services/prediction/features";"github.com/stratahq/strata/services/prediction/learn";"github.com/stratahq/strata/services/prediction/metrics")
func TestExp3(t *testing.T){
 txs,_:=cdnow.ReadFile("/work/shared/datasets/cdnow/CDNOW_sample.txt")
 st:=features.Replay(cdnow.Events(txs))
 cut:=time.Date(1997,10,1,0,0,0,0,time.UTC)
 ts:=features.BuildTrainingSet(st,cut,features.PurchaseWithin(0))
 ctx:=context.Background()
 extra:=func(u string) []float64{
   ps:=st[u].Purchases(cut); 
   var d60,d120,d270 float64; seen:=map[int64]bool{}
   var firstDays []int64
   for _,p:=range ps{ day:=p.Time.Unix()/86400; if seen[day]{continue}; seen[day]=true; firstDays=append(firstDays,day); ago:=cut.Unix()/86400-day; if ago<60{d60++}; if ago<120{d120++}; if ago<270{d270++}}
   var early float64; for _,d:=range firstDays{ if d-firstDays[0]<60 {early++}}
   return []float64{d60,d120,early}
 }
 X:=make([][]float64,len(ts.X)); logX:=make([][]float64,len(ts.X))
 for i,r:=range ts.X{ x:=append(append([]float64{},r...),extra(ts.Users[i])...); tx:=r[features.DaysSinceFirstOrder]-r[features.DaysSinceLastOrder]; x=append(x, tx/math.Max(r[features.DaysSinceFirstOrder],1)); X[i]=x
  l:=make([]float64,len(x)); for j,v:=range x{l[j]=math.Log1p(math.Max(v,0))}; logX[i]=l}
 folds:=learn.StratifiedFolds(ts.Y,5,42)
 run:=func(name string, X [][]float64, f learn.Trainer)[]float64{oof,err:=learn.CrossValPredictFolds(ctx,f,X,ts.Y,folds,5); if err!=nil{t.Fatal(err)}; r,_:=metrics.Evaluate(oof,ts.Y); t.Log(name,r.AUC); return oof}
 lr:=func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitLogistic(ctx,X,y,learn.LogisticConfig{})}
 a:=run("lr log",logX,lr)
 b:=run("gbt",X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitGBT(ctx,X,y,learn.GBTConfig{Seed:42,MaxDepth:2,Trees:500,LearningRate:0.02,MinLeaf:50})})
 c:=run("rf",X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{Seed:42,MinLeaf:60,Trees:300})})
 e:=make([]float64,len(a)); for i:=range a{e[i]=a[i]+b[i]+c[i]}
 r,_:=metrics.AUC(e,ts.Y); t.Log("ens",r)
 for _,ml:=range []int{60,100}{ for _,ff:=range []float64{0.3,0.6}{ ml,ff:=ml,ff; run("rf ff",X,func(ctx context.Context,X [][]float64,y []float64)(learn.Classifier,error){return learn.FitForest(ctx,X,y,learn.ForestConfig{Seed:42,MinLeaf:ml,Trees:300,FeatureFrac:ff})})}}
}
